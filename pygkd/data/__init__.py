"""Skeleton data: readers -> raw samples -> prepared (memory-mapped) store -> datasets of PyG graphs."""
from .dataset import PairDataset, SkeletonDataset, hq_keep_mask, load_graph, validation_mask
from .raw import STREAMS, DataFormatError, RawDataset, RawSample, StreamInfo, check_keypoints
from .readers import READERS, get_reader
from .skeleton_data import SkeletonData, SkeletonPair, to_dense
from .store import PreparedDataset, StoredStream, prepare

__all__ = [
    "STREAMS", "DataFormatError", "PairDataset", "PreparedDataset", "READERS", "RawDataset", "RawSample",
    "SkeletonData", "SkeletonDataset", "SkeletonPair", "StoredStream", "StreamInfo", "check_keypoints",
    "get_reader", "hq_keep_mask", "load_graph", "prepare", "to_dense", "validation_mask",
]
