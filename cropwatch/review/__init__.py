"""Agronomists' review of detections and what follows from it."""
