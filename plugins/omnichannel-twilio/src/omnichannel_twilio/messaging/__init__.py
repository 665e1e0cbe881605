"""Twilio Programmable Messaging: the ``sms.twilio`` adapter, its payloads, webhooks and
simulator (what it shares with Voice is in the package's own modules)."""
