"""Alerts: daily pest figures per camera kind, rules and their text, trap cards, notifications."""
