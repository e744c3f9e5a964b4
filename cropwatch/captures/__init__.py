"""Captures: accepting uploads, writing detections (server and edge), the sweeper, the edge protocol."""
