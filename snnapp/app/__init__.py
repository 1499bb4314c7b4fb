"""The Qt desktop app: live sources, spike rasters and fused predictions."""
