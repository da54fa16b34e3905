"""Training and evaluation: configs, seeding, checkpoints, metrics, samplers, the fit loop, the teacher's
outputs for distillation, and the four stages of the method (teacher, part matrix, student, evaluation)."""
from .checkpoint import ModelCard, load_checkpoint, load_model, save_checkpoint
from .config import ConfigError, available_configs, config_dir, dump_config, load_config
from .logger import MetricsLogger, read_metrics
from .metrics import ClassificationMeter, confusion_matrix, per_class_accuracy, topk_hits
from .objectives import Distillation, TrainingObjective
from .samplers import ClassAwareBatchSampler, RandomBatchSampler
from .seed import rng_state, seed_everything, set_rng_state
from .stages import RunPaths, compute_part_matrix, evaluate_model, train_student, train_teacher
from .teaching import LiveTeacher, TeacherCache, Teaching
from .trainer import StepOutput, dense_input, evaluate, fit, train_epoch

__all__ = [
    "ClassAwareBatchSampler", "ClassificationMeter", "ConfigError", "Distillation", "LiveTeacher", "MetricsLogger",
    "ModelCard", "RandomBatchSampler", "RunPaths", "StepOutput", "TeacherCache", "Teaching", "TrainingObjective",
    "available_configs", "compute_part_matrix", "config_dir", "confusion_matrix", "dense_input", "dump_config",
    "evaluate", "evaluate_model", "fit", "load_checkpoint", "load_config", "load_model", "per_class_accuracy",
    "read_metrics", "rng_state", "save_checkpoint", "seed_everything", "set_rng_state", "topk_hits",
    "train_epoch", "train_student", "train_teacher",
]
