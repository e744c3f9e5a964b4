"""The cultivation diary: entries and their revisions, exports, harvest lots and traceability."""
