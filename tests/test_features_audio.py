"""openSMILE audio features on real RAVDESS files, and clear errors for bad audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from affectrl.data import DataError, Dialogue, DialogueDataset
from affectrl.features import attach_features, extract_audio, with_spec


@pytest.fixture(scope="module")
def wavs(data_root: Path) -> list[str]:
    files = sorted((data_root / "ravdess" / "Actor_01").glob("*.wav"))
    return [str(files[0]), str(files[30]), str(files[59])]


def test_egemaps_on_real_ravdess(wavs):
    import opensmile

    features = extract_audio(wavs)
    assert features.shape == (3, 88) and features.dtype == np.float32
    assert np.isfinite(features).all()
    assert not np.allclose(features[0], features[1])
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    reference = smile.process_file(wavs[1]).to_numpy(np.float32)[0]
    np.testing.assert_allclose(features[1], reference, rtol=1e-5)


def test_transform_changes_the_waveform_features(wavs):
    quiet = with_spec(lambda x, item: x * 0.1, {"name": "gain", "factor": 0.1})
    seen = []

    def spy(x, item):
        seen.append((item.id, item.modality, item.sample_rate))
        return quiet(x, item)

    spy.spec = quiet.spec
    clean = extract_audio(wavs[:1])
    scaled = extract_audio(wavs[:1], transform=spy)
    assert seen == [("0", "audio", 16000)]
    assert not np.allclose(clean, scaled)


def test_attach_audio_is_cached_per_dataset(wavs):
    d = Dialogue(
        "a1", ["s"] * 3, np.array([0, 1, 0]), media={"audio": wavs}, utterance_ids=list("xyz")
    )
    ds = DialogueDataset("ravdess-mini", ["n", "c"], {"train": [d]})
    attach_features(ds, {"audio": "egemaps"}, progress=False)
    assert d.features["audio"].shape == (3, 88)
    from affectrl.features import extract_modality

    again = extract_modality(ds, "audio", "egemaps", progress=False)
    assert again.cache_hit and again.folder.name.startswith("egemaps-")
    np.testing.assert_array_equal(again.features, d.features["audio"])


def _good_wav(path: Path) -> Path:
    t = np.linspace(0, 1, 16000, dtype=np.float32)
    soundfile.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t), 16000, subtype="PCM_16")
    return path


def test_truncated_wav_is_refused_naming_the_file(tmp_path):
    path = _good_wav(tmp_path / "cut.wav")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"cut\.wav.*truncated"):
        extract_audio([str(path)])


def test_non_wav_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio at all")
    with pytest.raises(DataError, match=r"notes\.wav.*not a WAV"):
        extract_audio([str(path)])


def test_unreadable_and_missing_audio(tmp_path):
    bad = tmp_path / "garbage.wav"
    body = b"WAVE" + b"\x00" * 64
    bad.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(DataError, match=r"garbage\.wav.*unreadable WAV"):
        extract_audio([str(bad)])
    with pytest.raises(DataError, match=r"absent\.wav.*not found"):
        extract_audio([str(tmp_path / "absent.wav")])


def test_a_wav_rewritten_with_its_size_and_mtime_kept_is_re_encoded(wavs, tmp_path):
    import os

    from affectrl.features import FeatureStore, extract_items

    path = tmp_path / "clip.wav"
    path.write_bytes(Path(wavs[0]).read_bytes())
    store = FeatureStore(tmp_path / "store")
    first = extract_items("mine", "egemaps", ["u"], [str(path)], store=store, progress=False)
    st = path.stat()
    wave, rate = soundfile.read(path, dtype="int16")
    soundfile.write(path, wave // 4, rate, subtype="PCM_16")  # quieter: same size, new samples
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    again = extract_items("mine", "egemaps", ["u"], [str(path)], store=store, progress=False)
    assert again.computed == 1
    assert not np.allclose(again.features, first.features)
