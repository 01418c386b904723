"""ShuffleNet and the compact networks as detection backbones: the papers' COCO experiments in miniature."""

from shufflenet.detection.coco import CocoDetectionData, DetectionMetrics, evaluate_detector, read_coco
from shufflenet.detection.export import export_detector
from shufflenet.detection.model import DETECTORS, FpnBackbone, create_detector
from shufflenet.detection.predict import Detection, detect_files
from shufflenet.detection.synthetic import make_detection_set
from shufflenet.detection.train import DetectConfig, detector_from_checkpoint, load_detector_checkpoint, train_detector

__all__ = [
    "DETECTORS",
    "CocoDetectionData",
    "DetectConfig",
    "Detection",
    "DetectionMetrics",
    "FpnBackbone",
    "create_detector",
    "detect_files",
    "detector_from_checkpoint",
    "evaluate_detector",
    "export_detector",
    "load_detector_checkpoint",
    "make_detection_set",
    "read_coco",
    "train_detector",
]
