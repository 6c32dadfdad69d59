"""The Streamlit review app: pages present and collect; domain functions decide (see docs/review_app.md)."""
