"""Fixture that starts a real S3 server (Ceph RADOS Gateway); see deploy/dev/ceph_rgw.py."""
