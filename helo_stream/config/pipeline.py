"""Pipeline configuration: devices to resolve, windows, signal stages, model and publisher."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ProcessingFlag = Literal["clocksync", "dejitter", "monotonize", "threadsafe"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceRef(_Strict):
    """A device the pipeline resolves on the network, described by a profile in ``devices/``."""

    profile: str = Field(
        min_length=1,
        description="Profile name (a file in the project's devices/ folder) or a path to a YAML "
        "profile, relative to the pipeline file.",
    )
    optional: bool = Field(
        default=False, description="Start without this device when it is not found."
    )
    processing_flags: tuple[ProcessingFlag, ...] = Field(
        default=("clocksync",),
        description="pylsl post-processing applied by every inlet of this device.",
    )


class WindowConfig(_Strict):
    """Sliding windows on the LSL clock."""

    length_s: float = Field(default=60.0, gt=0, description="Window length L in seconds.")
    step_s: float = Field(default=0.25, gt=0, description="Time between window ends in seconds.")
    stale_after_s: float = Field(
        default=2.0,
        gt=0,
        description="Wall-clock seconds without new samples after which a stream is 'stale' "
        "and windows stop waiting for it.",
    )
    missing_after_s: float = Field(
        default=10.0,
        gt=0,
        description="Wall-clock seconds without new samples after which a stream is 'missing'.",
    )
    buffer_s: float | None = Field(
        default=None,
        gt=0,
        description="Ring-buffer length per stream in seconds; default twice the window length.",
    )
    min_coverage: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A modality is present in a window only if the window holds at least this "
        "fraction of its nominal sample count in usable samples (less: the device dropped out "
        "for most of the window, and the model is told the modality is absent).",
    )
    max_unusable_fraction: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="A modality's window with more than this fraction of unusable samples "
        "(non-finite or outside the device profile's range) is withheld from the features.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> WindowConfig:
        if self.step_s > self.length_s:
            raise ValueError(f"step_s ({self.step_s}) must not exceed length_s ({self.length_s})")
        if self.missing_after_s < self.stale_after_s:
            raise ValueError("missing_after_s must be at least stale_after_s")
        if self.buffer_s is not None and self.buffer_s < self.length_s:
            raise ValueError(f"buffer_s ({self.buffer_s}) must be at least length_s")
        return self

    @property
    def buffer_seconds(self) -> float:
        return self.buffer_s if self.buffer_s is not None else 2.0 * self.length_s


class FilterConfig(_Strict):
    """A causal IIR (Butterworth, second-order sections) applied once per incoming chunk."""

    kind: Literal["bandpass", "lowpass", "highpass", "bandstop"]
    low_hz: float | None = Field(default=None, gt=0)
    high_hz: float | None = Field(default=None, gt=0)
    order: int = Field(default=4, ge=1, le=10)
    design: Literal["scipy", "mne"] = "scipy"

    @model_validator(mode="after")
    def _cutoffs(self) -> FilterConfig:
        need = {
            "bandpass": ("low_hz", "high_hz"),
            "bandstop": ("low_hz", "high_hz"),
            "lowpass": ("high_hz",),
            "highpass": ("low_hz",),
        }[self.kind]
        missing = [name for name in need if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} filter needs {' and '.join(missing)}")
        if self.low_hz is not None and self.high_hz is not None and self.low_hz >= self.high_hz:
            raise ValueError(f"low_hz ({self.low_hz}) must be below high_hz ({self.high_hz})")
        return self


class ModalityConfig(_Strict):
    """One modality: which device stream feeds it, how it is filtered, which features it yields."""

    device: str = Field(description="Key of an entry in 'devices'.")
    stream: str = Field(description="Stream key inside that device's profile.")
    filter: FilterConfig | None = None
    features: tuple[str, ...] | None = Field(
        default=None, description="Feature names; all the extractor offers when unset."
    )
    required: bool = Field(
        default=True, description="Windows wait for this modality while it is not stale."
    )
    features_stream: str | None = Field(
        default=None,
        description="Stream key, in the same device profile, of a 1 Hz stream carrying this "
        "modality's features already computed (kind 'features', channel labels = feature "
        "names, e.g. replayed DMER files). `helo-stream run --replay` and the dataset readers "
        "feed the modality from it when the recording has it instead of the raw stream; the "
        "filter is then not applied and a window takes the mean of its rows.",
    )


class TailorSettings(_Strict):
    """TAILOR (multi-label) architecture, loss weights, decision rule, training targets and
    schedule (with the shared ones in ``training``).

    The architecture and loss fields are stored in the checkpoint at training time, with the
    threshold in effect after training (this one, or the one chosen on the validation
    subjects); the threshold given here also decides, live, which labels a message lists as
    ``present``.
    """

    d_model: int = Field(
        default=16,
        ge=2,
        description="Token width (a multiple of n_heads); 16 keeps a 10-fold WESAD LOSO of "
        "TAILOR under 10 minutes on two cores.",
    )
    n_heads: int = Field(default=2, ge=1, description="Attention heads.")
    n_layers: int = Field(default=1, ge=1, description="Self-attention layers per modality.")
    cross_layers: int = Field(
        default=1, ge=1, description="Layers of each granularity-descent fusion stage."
    )
    decoder_layers: int = Field(default=1, ge=1, description="Layers of the label decoder.")
    dropout: float = Field(default=0.1, ge=0, lt=1, description="Dropout (training only).")
    modality_dropout: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Training-time probability of dropping a whole modality of a window "
        "(never all), so the model copes with a device that drops out live.",
    )
    adv_weight: float = Field(
        default=0.01, ge=0, description="Weight of the adversarial (modality discriminator) loss."
    )
    diff_weight: float = Field(
        default=5e-6, ge=0, description="Weight of the private/common difference loss."
    )
    common_weight: float = Field(
        default=0.5, ge=0, description="Weight of the common-representation classifier loss."
    )
    threshold: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Decision threshold: a label is present when its probability is at least "
        "this. With threshold_from_validation it is only the fallback for a training run "
        "without validation subjects.",
    )
    threshold_from_validation: bool = Field(
        default=True,
        description="At training time, replace threshold by the one of 0.05, 0.10, ..., 0.95 "
        "with the best micro-F1 on the windows of the held-out validation subjects (the "
        "selected epoch's scores); the chosen value is stored in the checkpoint and used live "
        "(false: threshold applies, live too). Training subjects only: a LOSO test subject "
        "never takes part.",
    )
    present_min_rating: int = Field(
        default=3,
        ge=1,
        le=5,
        description="Training targets: an emotion counts as present when its self-report "
        "rating (1-5) is at least this (3 = 'somewhat').",
    )
    warmup_fraction: float = Field(
        default=0.1, ge=0, lt=1, description="Share of training steps with a rising learning rate."
    )
    grl_schedule: Literal["dann", "constant"] = Field(
        default="dann",
        description="Strength of the gradient reversal over training: 'dann' ramps it from 0 to "
        "1 as 2 / (1 + exp(-grl_gamma p)) - 1 over training progress p, so the untrained "
        "discriminator does not scramble the encoders early on; 'constant' keeps it at 1 (the "
        "authors' setting).",
    )
    grl_gamma: float = Field(default=10.0, gt=0, description="Steepness of the 'dann' ramp.")
    max_epochs: int | None = Field(
        default=24,
        ge=1,
        description="Upper bound on training.epochs for TAILOR, whose epoch costs several "
        "HeLo epochs (about 1.6 s on one core for 11 WESAD training subjects): 24, with early "
        "stopping (training patience) on the validation subjects, keeps a 12-fold WESAD LOSO "
        "of TAILOR near 8 minutes at one job (null: training.epochs).",
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TailorSettings:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})"
            )
        return self


class ModelConfig(_Strict):
    """The model stage: a checkpoint and the labels it must produce."""

    name: Literal["helo", "mlp", "tailor"] = Field(
        default="helo",
        description="'helo' and 'mlp' predict a distribution over the labels; 'tailor' "
        "predicts per label the probability that it is present (multi-label).",
    )
    checkpoint: Path = Field(description="Checkpoint file, relative to the pipeline file.")
    labels: tuple[str, ...] = Field(min_length=2)
    calibration_s: float = Field(
        default=300.0,
        ge=0,
        description="Seconds of a subject's own windows before per-subject feature "
        "normalisation starts; population statistics are used until then.",
    )
    normalization: Literal["running", "frozen"] = Field(
        default="running",
        description="Per-subject statistics after the calibration period: 'running' uses "
        "every window of the session so far (updated with each window), 'frozen' the "
        "calibration windows only. Recorded in the checkpoint at training time.",
    )
    input_clip: float = Field(
        default=10.0,
        gt=0,
        allow_inf_nan=False,
        description="Normalised (z-scored) window features are clamped to ±this before the "
        "model: a z-score beyond it is a sensor fault or an outlier the model never saw in "
        "training, and clamping keeps value × weight finite. Used at training time and stored "
        "in the checkpoint's model config, whose value applies at run time (checkpoints "
        "without it were trained with 10).",
    )
    tailor: TailorSettings | None = Field(
        default=None,
        description="TAILOR settings (only with name: tailor; defaults when unset).",
    )

    @model_validator(mode="after")
    def _tailor_only_for_tailor(self) -> ModelConfig:
        if self.tailor is not None and self.name != "tailor":
            raise ValueError(f"model.tailor applies only to name: tailor, not {self.name!r}")
        return self

    @property
    def tailor_settings(self) -> TailorSettings:
        """The TAILOR settings in effect (the defaults when ``tailor`` is unset)."""
        return self.tailor if self.tailor is not None else TailorSettings()


#: Hosts that never leave this machine; publishing anywhere else needs CURVE.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class PublisherConfig(_Strict):
    """ZeroMQ XPUB sink; loopback only unless CURVE encryption and client keys are set."""

    address: str = Field(default="tcp://127.0.0.1:5556", pattern=r"^(tcp|ipc|inproc)://.+")
    topic: str = Field(default="helo/emotion", min_length=1)
    bind: bool = Field(
        default=True, description="Bind the address (default) or connect to it (e.g. a broker)."
    )
    send_hwm: int = Field(default=1000, ge=1, description="ZeroMQ send high-water mark.")
    curve_secret_key: Path | None = Field(
        default=None,
        description="Server certificate with secret key (helo-stream keys), relative to the "
        "pipeline file; enables CURVE encryption and client authentication.",
    )
    curve_allowed_clients: tuple[Path, ...] | None = Field(
        default=None,
        description="Client public-key files or directories of them, relative to the pipeline "
        "file; only these clients may subscribe.",
    )

    @property
    def host(self) -> str | None:
        """The host of a tcp address (None for ipc/inproc, which stay on this machine)."""
        scheme, _, rest = self.address.partition("://")
        if scheme != "tcp":
            return None
        return rest.rsplit(":", 1)[0] if ":" in rest else rest

    @model_validator(mode="after")
    def _curve_off_loopback(self) -> PublisherConfig:
        if (self.curve_secret_key is None) != (not self.curve_allowed_clients):
            raise ValueError("curve_secret_key and curve_allowed_clients must be given together")
        host = self.host
        if host is not None and host not in LOOPBACK_HOSTS and self.curve_secret_key is None:
            raise ValueError(
                f"publishing on {self.address} reaches other machines and needs CURVE: set "
                "curve_secret_key and curve_allowed_clients (create keys with 'helo-stream "
                "keys'), or bind tcp://127.0.0.1"
            )
        return self


class TrainingConfig(_Strict):
    """How offline datasets are cut from recordings, and how models are trained on them.

    The one source of the training settings of ``helo-stream train`` and ``helo-stream evaluate
    --loso`` (HeLo, MLP and TAILOR alike; TAILOR's own ones are in ``model.tailor``).
    """

    step_s: float = Field(default=2.0, gt=0, description="Window step for training datasets.")
    epochs: int = Field(
        default=30,
        ge=1,
        description="Training epochs (TAILOR: at most model.tailor.max_epochs); 'helo-stream "
        "train --epochs' overrides it.",
    )
    batch_size: int = Field(default=256, ge=1, description="Training windows per AdamW step.")
    lr: float = Field(
        default=1e-3,
        gt=0,
        description="AdamW learning rate (HeLo and MLP: constant; TAILOR: warmup, then linear "
        "decay to 0).",
    )
    weight_decay: float = Field(default=1e-4, ge=0, description="AdamW weight decay.")
    grad_clip: float | None = Field(
        default=1.0, gt=0, description="Largest global gradient norm (null: no clipping)."
    )
    train_stride: int = Field(
        default=3,
        ge=1,
        description="Keep every n-th labelled window of a training subject (at a 2 s step "
        "consecutive 60 s windows share 58 s of signal, so the skipped ones add little but "
        "cost time); 'helo-stream train --train-stride' overrides it.",
    )
    val_fraction: float = Field(
        default=0.2,
        ge=0,
        lt=1,
        description="Fraction of the training subjects held out, whole, for early stopping "
        "(and TAILOR's threshold_from_validation); none with fewer than 3 training subjects.",
    )
    patience: int | None = Field(
        default=8,
        ge=1,
        description="Stop after this many epochs without a better validation loss; the best "
        "epoch's weights are kept (null: run every epoch, still keep the best).",
    )
    lam: float = Field(default=0.1, ge=0, description="Weight of the label-alignment loss.")
    condition_weight: float = Field(
        default=1.0,
        ge=0,
        description="Weight of HeLo's protocol-condition cross-entropy (its condition read-out "
        "is built when the training windows span at least two protocol conditions).",
    )
    ensemble: int = Field(
        default=3,
        ge=1,
        le=16,
        description="HeLo networks trained (seeds seed, seed+1, ...; each early-stopped on its "
        "own validation subjects); the published distribution is their mean. 1: one network.",
    )
    seed: int = Field(
        default=0,
        description="Seeds weights, batch order, dropout and the validation split; "
        "'helo-stream train --seed' overrides it.",
    )
    data: Path | None = Field(
        default=None,
        description="Training recordings (a subject folder or a folder of them), relative to "
        "the pipeline file; 'helo-stream train --data' overrides it.",
    )


class PipelineConfig(_Strict):
    """A whole pipeline as written in ``pipelines/*.yaml``."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    subject: str | None = Field(
        default=None,
        description="Only use streams whose source_id names this subject; any subject if unset.",
    )
    resolve_timeout_s: float = Field(default=10.0, gt=0)
    devices: dict[str, DeviceRef] = Field(min_length=1)
    window: WindowConfig = WindowConfig()
    modalities: dict[str, ModalityConfig] = Field(min_length=1)
    model: ModelConfig
    publisher: PublisherConfig = PublisherConfig()
    training: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _modalities_name_devices(self) -> PipelineConfig:
        unknown = {
            name: mod.device
            for name, mod in self.modalities.items()
            if mod.device not in self.devices
        }
        if unknown:
            raise ValueError(
                "modalities refer to devices not declared in 'devices' "
                f"({sorted(self.devices)}): {unknown}"
            )
        return self
