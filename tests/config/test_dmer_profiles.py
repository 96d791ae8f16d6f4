"""The DMER device profiles load, and describe what the DMER features and sources expect."""

from __future__ import annotations

from helo_stream.config import DEVICES_DIR, load_device_profile
from helo_stream.signal.features import BvpFeatures, EdaFeatures
from helo_stream.signal.features.eeg import DMER_EEG_CHANNELS, EegFeatures
from helo_stream.signal.features.face import FACE_FEATURES, FaceFeatures


def test_dsi24() -> None:
    profile = load_device_profile(DEVICES_DIR / "dsi24.yaml")
    eeg = profile.streams["eeg"]
    assert (eeg.modality, eeg.role, eeg.nominal_srate) == ("eeg", "physiological", 300)
    assert eeg.channel_labels == DMER_EEG_CHANNELS
    assert set(eeg.units) == {"uV"}
    extractor = EegFeatures(srate=eeg.nominal_srate, channels=eeg.channel_labels)
    assert extractor.n_channels == eeg.n_channels
    assert extractor.names == EegFeatures.available  # the defaults are this profile's
    assert profile.source_id("eeg", subject="S1") == "S1-dsi24-eeg"


def test_es1_wristband() -> None:
    profile = load_device_profile(DEVICES_DIR / "es1_wristband.yaml")
    gsr, ppg = profile.streams["gsr"], profile.streams["ppg"]
    assert (gsr.modality, gsr.nominal_srate, gsr.units) == ("eda", 4, ("uS",))
    assert (ppg.modality, ppg.nominal_srate, ppg.n_channels) == ("ppg", 100, 1)
    assert gsr.role == ppg.role == "physiological"
    # The extractors the registry will give these kinds accept the profile's rates.
    EdaFeatures(srate=gsr.nominal_srate)
    BvpFeatures(srate=ppg.nominal_srate)


def test_face_camera() -> None:
    profile = load_device_profile(DEVICES_DIR / "face_camera.yaml")
    face = profile.streams["lbptop"]
    assert (face.modality, face.role, face.nominal_srate) == ("face", "behavioral", 1)
    assert face.n_channels == 768
    assert face.channel_labels == tuple(name.removeprefix("face_") for name in FACE_FEATURES)
    assert FaceFeatures(srate=face.nominal_srate).n_channels == face.n_channels
