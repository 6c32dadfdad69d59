"""Redaction of personal data (card, ID and phone numbers, bank accounts, e-mail addresses) in
transcripts and audio, before anything is stored: see docs/redaction.md."""
