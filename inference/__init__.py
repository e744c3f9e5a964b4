"""Detection pipeline: safe decode -> letterbox -> ONNX Runtime -> decode + NMS -> :class:`Detections`.

The hot path imports NumPy, OpenCV and onnxruntime only (never torch or ultralytics).
"""

# decode first: it sets OPENCV_IO_MAX_IMAGE_PIXELS before cv2 is loaded
from inference.decode import ImageRejected, decode_image, image_dimensions, sniff_format
from inference.detections import DetectionRecord, Detections
from inference.detector import Detector, ModelRejected, OnnxDetector
from inference.letterbox import Letterbox, blob_from_images, compute_letterbox, scale_boxes
from inference.model_file import ModelFile, read_model_file
from inference.nms import nms

__all__ = [
    "DetectionRecord",
    "Detections",
    "Detector",
    "ImageRejected",
    "Letterbox",
    "ModelFile",
    "ModelRejected",
    "OnnxDetector",
    "blob_from_images",
    "compute_letterbox",
    "decode_image",
    "image_dimensions",
    "nms",
    "read_model_file",
    "scale_boxes",
    "sniff_format",
]
