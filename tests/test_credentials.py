"""Content Credentials on real PNG, MP4 and WAV files, read back by our reader and by c2pa's own."""

from __future__ import annotations

import datetime as dt
import json
import stat
import struct
import subprocess
import wave
from pathlib import Path

import c2pa  # a dependency: the exports sign with it
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from inkubator_tui.exports.credentials import (
    PROVENANCE_LABEL, AssetClaim, Credentials, CredentialsError, Ingredient, read_credentials)
from inkubator_tui.project.models import Provenance

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# The installation's CA is made on this machine and is on no trust list, so every validator
# reports the signer as untrusted: the state is "Valid" (intact, signer unknown), never "Trusted".
UNTRUSTED = "signingCredential.untrusted"

NEURAL = Provenance(tool="keyframes", backend="diffusion", model_id="sd15", weights_sha256="ab" * 32,
                    licence="CreativeML OpenRAIL-M", seed=7, prompt="a lighthouse", approver="tester",
                    approved_at="2026-11-21T10:00:00Z")
SKETCH = Provenance(tool="keyframes", backend="sketch", non_neural=True, seed=3, approver="tester",
                    approved_at="2026-11-21T10:05:00Z")
ANIMATIC = Provenance(tool="animatic", backend="ffmpeg", non_neural=True, approver="tester",
                      approved_at="2026-11-21T11:00:00Z")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """A small real PNG, MP4 (libx264) and WAV."""
    import imageio_ffmpeg

    root = tmp_path_factory.mktemp("media")
    png = root / "frame.png"
    Image.new("RGB", (48, 32), (30, 90, 200)).save(png)
    mp4 = root / "clip.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi",
                    "-i", "color=c=red:s=64x64:d=0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(mp4)],
                   check=True, timeout=60)
    wav = root / "line.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<1600h", *range(-800, 800)))
    return {"png": png, "mp4": mp4, "wav": wav}


@pytest.fixture(scope="module")
def creds(tmp_path_factory) -> Credentials:
    return Credentials.load(folder=tmp_path_factory.mktemp("home") / "cred")


def c2pa_reader(path: Path, mime: str) -> dict:
    """c2pa's own reader with its default trust settings (remote manifests off: these files embed theirs)."""
    ctx = c2pa.Context.from_dict({"version": 1, "verify": {"remote_manifest_fetch": False}})
    with open(path, "rb") as f:
        return json.loads(c2pa.Reader(mime, f, context=ctx).json())


def active(store: dict) -> dict:
    return store["manifests"][store["active_manifest"]]


def assertion(manifest: dict, label: str) -> dict:
    return next(a["data"] for a in manifest["assertions"] if a["label"] == label)


def actions(manifest: dict) -> list[dict]:
    return assertion(manifest, "c2pa.actions.v2")["actions"]


def test_neural_png_carries_a_valid_manifest_naming_the_model(media, creds, tmp_path):
    out = tmp_path / "4A.png"
    creds.sign(media["png"], out, AssetClaim("shot 4A keyframe", NEURAL))

    store = read_credentials(out)
    assert store["validation_state"] == "Valid"
    assert store["validation_codes"] == [UNTRUSTED]
    m = active(store)
    assert m["title"] == "shot 4A keyframe"
    assert m["claim_generator_info"][0]["name"] == "inkubator"
    created = actions(m)[0]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == IPTC + "trainedAlgorithmicMedia"
    assert created["softwareAgent"]["name"] == "sd15"
    prov = assertion(m, PROVENANCE_LABEL)
    assert (prov["model_id"], prov["seed"], prov["weights_sha256"]) == ("sd15", 7, "ab" * 32)
    assert (prov["approver"], prov["approved_at"], prov["licence"]) == ("tester", "2026-11-21T10:00:00Z",
                                                                          "CreativeML OpenRAIL-M")
    assert prov["prompt"] == "a lighthouse"

    # c2pa's reader with no settings of ours agrees: intact, signer untrusted and nothing else.
    theirs = c2pa_reader(out, "image/png")
    assert theirs["validation_state"] == "Valid"
    assert [s["code"] for s in theirs["validation_status"]] == [UNTRUSTED]
    assert active(theirs)["signature_info"]["common_name"] == creds.subject
    # the picture itself is untouched
    assert Image.open(out).tobytes() == Image.open(media["png"]).tobytes()


def test_non_neural_default_is_algorithmic_media(media, creds, tmp_path):
    out = tmp_path / "sketch.png"
    creds.sign(media["png"], out, AssetClaim("shot 1 sketch", SKETCH))
    m = active(read_credentials(out))
    assert actions(m)[0]["digitalSourceType"] == IPTC + "algorithmicMedia"
    assert assertion(m, PROVENANCE_LABEL)["non_neural"] is True


def test_animatic_mp4_lists_its_ingredients_and_is_a_composite_with_ai(media, creds, tmp_path):
    key = tmp_path / "4A.png"
    creds.sign(media["png"], key, AssetClaim("shot 4A keyframe", NEURAL))  # carries its own manifest
    out = tmp_path / "animatic.mp4"
    claim = AssetClaim("animatic", ANIMATIC, (Ingredient(key, "shot 4A keyframe"),
                                              Ingredient(media["wav"], "shot 4A line 1", neural=True)), composite=True)
    creds.sign(media["mp4"], out, claim)

    for store in (read_credentials(out), c2pa_reader(out, "video/mp4")):
        assert store["validation_state"] == "Valid"
        assert [s["code"] for s in store["validation_status"]] == [UNTRUSTED]
        m = active(store)
        assert [(i["title"], i["relationship"]) for i in m["ingredients"]] == [
            ("shot 4A keyframe", "componentOf"), ("shot 4A line 1", "componentOf")]
        assert m["ingredients"][0]["active_manifest"] in store["manifests"]  # the keyframe's own manifest
        acts = actions(m)
        assert acts[0]["action"] == "c2pa.created"
        assert acts[0]["digitalSourceType"] == IPTC + "compositeWithTrainedAlgorithmicMedia"
        assert [a["action"] for a in acts[1:]] == ["c2pa.placed", "c2pa.placed"]
        assert assertion(m, PROVENANCE_LABEL)["tool"] == "animatic"


def test_composite_of_non_neural_parts_is_synthetic_judged_by_their_own_credentials(media, creds, tmp_path):
    board = tmp_path / "board.png"
    creds.sign(media["png"], board, AssetClaim("shot 1 sketch", SKETCH))
    out = tmp_path / "animatic.mp4"
    creds.sign(media["mp4"], out, AssetClaim("animatic", ANIMATIC, (Ingredient(board, "shot 1 sketch"),),
                                             composite=True))
    assert actions(active(read_credentials(out)))[0]["digitalSourceType"] == IPTC + "compositeSynthetic"


def test_wav_and_a_derived_png_with_parent_and_input(media, creds, tmp_path):
    voice = tmp_path / "line.wav"
    creds.sign(media["wav"], voice, AssetClaim("shot 4A line 1", NEURAL.model_copy(update={"tool": "voice"})))
    assert read_credentials(voice)["validation_codes"] == [UNTRUSTED]
    with wave.open(str(voice)) as w:  # still a WAV every player reads
        assert w.getnframes() == 1600

    parent = tmp_path / "v1.png"
    creds.sign(media["png"], parent, AssetClaim("shot 4A keyframe v1", NEURAL))
    out = tmp_path / "v2.png"
    creds.sign(media["png"], out, AssetClaim("shot 4A keyframe v2", NEURAL, (
        Ingredient(parent, "shot 4A keyframe v1", "parentOf"), Ingredient(media["png"], "reference", "inputTo"))))
    store = read_credentials(out)
    assert store["validation_codes"] == [UNTRUSTED]
    acts = actions(active(store))
    assert [a["action"] for a in acts] == ["c2pa.opened", "c2pa.edited"]
    assert acts[1]["digitalSourceType"] == IPTC + "trainedAlgorithmicMedia"
    assert {i["relationship"] for i in active(store)["ingredients"]} == {"parentOf", "inputTo"}


def test_installation_key_is_made_once_then_reused(tmp_path):
    folder = tmp_path / "cred"
    first = Credentials.load(folder=folder)
    key, chain = folder / "signing-key.pem", folder / "signing-chain.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    certs = x509.load_pem_x509_certificates(chain.read_bytes())
    assert len(certs) == 2 and certs[0].issuer == certs[1].subject  # end-entity first, then its CA
    assert not certs[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certs[0].not_valid_after_utc - certs[0].not_valid_before_utc > dt.timedelta(days=365 * 19)
    before = key.read_bytes()

    again = Credentials.load(folder=folder)
    assert again.chain_pem == first.chain_pem and again.subject == first.subject
    assert key.read_bytes() == before
    assert first.alg == "es256" and "inkubator installation" in first.subject
    assert "PRIVATE" not in repr(first)


def test_a_changed_byte_breaks_the_credentials(media, creds, tmp_path):
    out = tmp_path / "4A.png"
    creds.sign(media["png"], out, AssetClaim("shot 4A keyframe", NEURAL))
    data = bytearray(out.read_bytes())
    i = data.index(b"IDAT")
    data[i + 8] ^= 0xFF  # a byte of the compressed image data
    out.write_bytes(bytes(data))
    store = read_credentials(out)
    assert store["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in store["validation_codes"]
    assert c2pa_reader(out, "image/png")["validation_state"] == "Invalid"

    video = tmp_path / "clip.mp4"
    creds.sign(media["mp4"], video, AssetClaim("shot 4A clip", NEURAL))
    data = bytearray(video.read_bytes())
    data[data.index(b"mdat") + 16] ^= 0xFF
    video.write_bytes(bytes(data))
    assert "assertion.bmffHash.mismatch" in read_credentials(video)["validation_codes"]


def test_what_cannot_be_signed_or_read_says_so_in_one_line(media, creds, tmp_path):
    gif = tmp_path / "x.gif"
    gif.write_bytes(b"GIF89a")
    with pytest.raises(CredentialsError) as e:
        creds.sign(gif, tmp_path / "y.gif", AssetClaim("x", NEURAL))
    assert "\n" not in str(e.value) and ".png" in str(e.value)
    with pytest.raises(CredentialsError) as e:
        read_credentials(tmp_path / "notes.txt")
    assert "\n" not in str(e.value)
    with pytest.raises(CredentialsError, match="no Content Credentials"):
        read_credentials(media["png"])
    with pytest.raises(CredentialsError, match="same file type"):
        creds.sign(media["png"], tmp_path / "x.mp4", AssetClaim("x", NEURAL))

    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "4A.png"
    with pytest.raises(CredentialsError, match="missing"):
        creds.sign(media["png"], out, AssetClaim("x", NEURAL, (Ingredient(tmp_path / "gone.png", "gone"),)))
    with pytest.raises(CredentialsError, match="does not exist"):
        creds.sign(tmp_path / "gone.png", out, AssetClaim("x", NEURAL))
    assert list(out.parent.iterdir()) == []  # neither the file nor a temp file


def _studio(tmp_path: Path, *, ca_signer: bool = False) -> tuple[Path, Path, Path]:
    """A studio's CA and signing certificate (SEC1 key, as some tools write it)."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Studio Nine Root")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Studio Nine Signing"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Studio Nine")])
    ku = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
              encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **ku), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    ee = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name).public_key(key.public_key())
          .serial_number(2).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=ca_signer, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **ku),
                         critical=True)
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    chain, key_path, root = tmp_path / "studio-chain.pem", tmp_path / "studio-key.pem", tmp_path / "studio-root.pem"
    chain.write_bytes(ee.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    root.write_bytes(ca.public_bytes(pem))
    return chain, key_path, root


def test_a_studio_certificate_is_used_when_given_and_trusted_with_its_root(media, tmp_path):
    chain, key, root = _studio(tmp_path)
    home = tmp_path / "cred"
    studio = Credentials.load(folder=home, cert=str(chain), key=str(key))
    assert not home.exists()  # no installation key made
    assert studio.subject == "Studio Nine Signing"  # the organisation is already in the name
    out = tmp_path / "4A.png"
    studio.sign(media["png"], out, AssetClaim("shot 4A keyframe", NEURAL))

    store = read_credentials(out)
    assert store["validation_state"] == "Valid" and store["validation_codes"] == [UNTRUSTED]
    assert active(store)["signature_info"]["common_name"] == "Studio Nine Signing"
    trusted = read_credentials(out, trust_anchors=root)  # a validator that holds the studio's root
    assert trusted["validation_state"] == "Trusted" and trusted["validation_codes"] == []


def test_a_studio_certificate_c2pa_would_refuse_is_refused_up_front(media, tmp_path):
    chain, key, _ = _studio(tmp_path, ca_signer=True)
    with pytest.raises(CredentialsError, match="end-entity"):
        Credentials.load(cert=str(chain), key=str(key))
    (tmp_path / "other").mkdir()
    other_chain, _, _ = _studio(tmp_path / "other")
    with pytest.raises(CredentialsError, match="does not belong"):
        Credentials.load(cert=str(other_chain), key=str(key))
    with pytest.raises(CredentialsError, match="both"):
        Credentials.load(cert=str(chain))
    with pytest.raises(CredentialsError, match="cannot read"):
        Credentials.load(cert=str(tmp_path / "nope.pem"), key=str(key))
