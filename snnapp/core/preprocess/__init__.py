"""Preprocessing: the one audio path and the one image path of the project, and augmentation.

``audio_features`` turns a WAV (or samples) into MFCC frames; ``image_features`` turns a picture
(file or array) into a 28x28 MNIST-style image. Training, evaluation, ``predict``, the app and
the edge runtime all call these two, with the parameters saved in the model's config.
"""

from snnapp.core.preprocess._audio import (
    AudioConfig,
    audio_features,
    load_wav,
    mfcc_frames,
    stream_wav,
    to_mono,
    trim_silence,
)
from snnapp.core.preprocess._augment import augment_waveform
from snnapp.core.preprocess._image import ImageConfig, image_features, to_mnist
from snnapp.core.preprocess._image_file import load_image
from snnapp.core.preprocess._noise import (
    AROUND_S,
    NOISE_KINDS,
    check_kinds,
    in_room,
    make_noise,
    room_mix,
    speech_power,
)

__all__ = [
    "AROUND_S",
    "NOISE_KINDS",
    "AudioConfig",
    "ImageConfig",
    "audio_features",
    "augment_waveform",
    "check_kinds",
    "image_features",
    "in_room",
    "load_image",
    "load_wav",
    "make_noise",
    "mfcc_frames",
    "room_mix",
    "speech_power",
    "stream_wav",
    "to_mnist",
    "to_mono",
    "trim_silence",
]
