"""The DMER device profiles load, and describe what the DMER features and sources expect."""

from __future__ import annotations

from helo_stream.config import DEVICES_DIR, load_device_profile
from helo_stream.signal.features import make_extractor
from helo_stream.signal.features.dmer_peripheral import (
    DMER_GSR_FEATURES,
    DMER_PPG_FEATURES,
    DmerGsrFeatures,
    DmerPpgFeatures,
)
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
    # The replayed DMER features: channel labels are the raw extractor's feature names.
    de = profile.streams["eeg_de"]
    assert (de.modality, de.nominal_srate) == ("features", 1)
    assert de.channel_labels == EegFeatures.available


def test_es1_wristband() -> None:
    profile = load_device_profile(DEVICES_DIR / "es1_wristband.yaml")
    gsr, ppg = profile.streams["gsr"], profile.streams["ppg"]
    assert (gsr.modality, gsr.nominal_srate, gsr.units) == ("gsr", 4, ("uS",))
    assert (ppg.modality, ppg.nominal_srate, ppg.n_channels) == ("ppg", 100, 1)
    assert gsr.role == ppg.role == "physiological"
    # DMER's statistics, not the E4's eda/bvp physiology, and the rates are usable.
    assert isinstance(make_extractor(gsr.modality, srate=gsr.nominal_srate), DmerGsrFeatures)
    assert isinstance(make_extractor(ppg.modality, srate=ppg.nominal_srate), DmerPpgFeatures)
    gsr_rows, ppg_rows = profile.streams["gsr_features"], profile.streams["ppg_features"]
    assert gsr_rows.channel_labels == DMER_GSR_FEATURES == DmerGsrFeatures.available
    assert ppg_rows.channel_labels == DMER_PPG_FEATURES == DmerPpgFeatures.available
    assert gsr_rows.modality == ppg_rows.modality == "features"


def test_face_camera() -> None:
    profile = load_device_profile(DEVICES_DIR / "face_camera.yaml")
    face = profile.streams["lbptop"]
    assert (face.modality, face.role, face.nominal_srate) == ("face", "behavioral", 1)
    assert face.n_channels == 768
    assert face.channel_labels == tuple(name.removeprefix("face_") for name in FACE_FEATURES)
    assert FaceFeatures(srate=face.nominal_srate).n_channels == face.n_channels
