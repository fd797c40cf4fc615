"""Content Credentials (C2PA) on exported pictures, videos and voices.

Why: the app promises transparent provenance, and a promise only counts when
someone outside the app can check it. A C2PA manifest travels inside the file
(a PNG chunk, an MP4 box, a WAV chunk) and any C2PA validator reads it without
this app: `c2patool`, https://contentcredentials.org/verify, c2pa-python's
`Reader`. It says, in the vocabulary those tools display, that the asset was
made by a trained model (IPTC digital source type `trainedAlgorithmicMedia`),
by a labelled non-neural default (`algorithmicMedia`), or combined from such
parts (`compositeWithTrainedAlgorithmicMedia`), which model and weights made
it, who approved it and when, and which upstream files went into it (each with
its own manifest when it has one). The signature binds all of that to the
file's bytes: change a pixel and the manifest no longer validates.

What a validator reports (`validation_state`, and the codes under it):

- "Invalid": the file or its manifest changed after signing, or the signing
  certificate is malformed or expired at the time of reading.
- "Valid": the signature and every hash check out, but the signer does not
  chain to a trust anchor the validator holds; the code
  `signingCredential.untrusted` says so. This is what this installation's own
  key gives everywhere: its small CA is made on this machine and is on no trust
  list. It proves the file is unchanged since this installation signed it and
  that files signed by the same installation share a signer, not who that is.
- "Trusted": as "Valid", and the signer chains to an anchor the validator
  trusts: a studio's certificate issued by a CA on the C2PA trust list, read by
  a validator loaded with that list (`read_credentials(..., trust_anchors=)`).

Replacing the key: set `export.signing_cert` (PEM chain, end-entity first) and
`export.signing_key` (unencrypted PEM private key) in the config. c2pa-rs
checks the end-entity certificate at signing (`_certificate_problem` repeats
those checks to say which one fails): X.509 v3; valid now; ECDSA P-256/384/521,
Ed25519 or RSA >= 2048 (signed PSS); not a CA; key usage digitalSignature
without keyCertSign; an extended key usage other than anyExtendedKeyUsage, and
one C2PA accepts (emailProtection is the one every validator's default accepts;
documentSigning and the C2PA claim-signing OID 1.3.6.1.4.1.62558.2.1 only where
the validator loads the C2PA EKU list, as this module does); an authority key
identifier. To start over with a new installation key, delete the credentials
folder; the next export makes a new one.

No network, ever: no time-stamp authority is used, and c2pa runs with remote
manifest fetching and OCSP off and an empty host allow-list. Without a time
stamp a validator checks the certificate against the time of reading, so every
file signed with a certificate reads "Invalid" (`signingCredential.expired`)
once it expires. The installation certificate is therefore made to last
twenty years; files signed with a studio's shorter-lived certificate need
signing again before it expires.

The manifest embeds the prompt and parameters: whoever receives the file can
read them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from ..project.assets import FILE_MODE, TMP_PREFIX
from ..project.models import Provenance

KEY_FILE = "signing-key.pem"
CHAIN_FILE = "signing-chain.pem"
PROVENANCE_LABEL = "org.inkubator.provenance"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
ALGORITHMIC = IPTC + "algorithmicMedia"
COMPOSITE_TRAINED = IPTC + "compositeWithTrainedAlgorithmicMedia"
COMPOSITE_SYNTHETIC = IPTC + "compositeSynthetic"
COMPOSITE = IPTC + "composite"
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".mp4": "video/mp4",
        ".mov": "video/quicktime", ".wav": "audio/wav"}
# Twenty years: with no time stamp, a signature stops validating when its certificate expires.
INSTALLATION_DAYS = 20 * 365 + 5
C2PA_CLAIM_SIGNING = "1.3.6.1.4.1.62558.2.1"
# The extended key usages C2PA accepts for claim signing (c2pa-rs's valid_eku_oids.cfg plus the
# C2PA OID). Loaded into every read so a studio's documentSigning certificate validates here as it
# does on validators that load the C2PA trust settings.
ACCEPTED_EKUS = ("1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36", "1.3.6.1.5.5.7.3.8", "1.3.6.1.5.5.7.3.9",
                 "1.3.6.1.4.1.311.76.59.1.9", C2PA_CLAIM_SIGNING)
# The one failure code every file signed with an installation key carries (its CA is on no trust list).
UNTRUSTED = "signingCredential.untrusted"


class CredentialsError(Exception):
    """One line that says what went wrong and what to do."""


@dataclass(frozen=True)
class Ingredient:
    path: Path
    title: str
    relationship: Literal["componentOf", "inputTo", "parentOf"] = "componentOf"
    # Made by a neural model? None: judge by the file's own Content Credentials, when it has them.
    neural: bool | None = None


@dataclass(frozen=True)
class AssetClaim:
    title: str  # e.g. "shot 4A keyframe"
    provenance: Provenance
    ingredients: tuple[Ingredient, ...] = ()
    composite: bool = False  # made by combining ingredients (animatic) rather than generated


@dataclass(frozen=True)
class Credentials:
    """A signing certificate chain and its private key, ready for c2pa."""

    chain_pem: str
    alg: str  # c2pa's name: es256, es384, es512, ed25519, ps256
    _key_pem: str = field(repr=False)
    _subject: str = ""

    @classmethod
    def load(cls, *, folder: Path | None = None, cert: str = "", key: str = "") -> Credentials:
        """The studio's own cert/key when given, else this installation's (created on first use)."""
        if cert or key:
            if not (cert and key):
                raise CredentialsError("set both export.signing_cert and export.signing_key, or neither")
            return cls._from_pem(_read(Path(cert).expanduser(), "export.signing_cert"),
                                 _read(Path(key).expanduser(), "export.signing_key"), where=str(cert))
        if folder is None:
            from platformdirs import user_data_path

            folder = user_data_path("inkubator") / "credentials"
        if not ((folder / KEY_FILE).exists() and (folder / CHAIN_FILE).exists()):
            _create_installation_key(folder)
        return cls._from_pem(_read(folder / CHAIN_FILE, "the signing chain"),
                             _read(folder / KEY_FILE, "the signing key"), where=str(folder), installation=True)

    @classmethod
    def _from_pem(cls, chain: bytes, key: bytes, *, where: str, installation: bool = False) -> Credentials:
        try:
            from cryptography import x509
            from cryptography.exceptions import UnsupportedAlgorithm
            from cryptography.hazmat.primitives import serialization
        except ImportError:
            raise CredentialsError("Content Credentials need cryptography: pip install cryptography") from None
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        try:
            certs = x509.load_pem_x509_certificates(chain)
        except ValueError:
            raise CredentialsError(f"no PEM certificates in {where}: give the chain as PEM, end-entity first") from None
        try:
            private = serialization.load_pem_private_key(key, password=None)
        except TypeError:
            raise CredentialsError("the signing key is encrypted: give an unencrypted PEM key") from None
        except (ValueError, UnsupportedAlgorithm):
            raise CredentialsError("the signing key is not a readable PEM private key") from None
        ee = certs[0]
        if private.public_key().public_bytes(*spki) != ee.public_key().public_bytes(*spki):
            raise CredentialsError(f"the signing key does not belong to the first certificate in {where}")
        problem = _certificate_problem(ee)
        if problem:
            fix = f"delete {where} to make a new installation key" if installation else "use a C2PA-ready certificate"
            raise CredentialsError(f"the signing certificate {problem}: {fix}")
        pkcs8 = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
        return cls(pem, _alg(private), pkcs8, _describe(ee))

    @property
    def subject(self) -> str:
        """Who signs, for messages."""
        return self._subject

    def sign(self, src: Path, dest: Path, claim: AssetClaim) -> None:
        """Write `dest`: a copy of `src` carrying a signed manifest.

        Atomic (a temp file beside `dest`, then os.replace), so an export never leaves half a file."""
        c2pa = _c2pa()
        mime = _mime(src)
        if _mime(dest) != mime:
            raise CredentialsError(f"{dest.name} must have the same file type as {src.name}")
        if not src.is_file():
            raise CredentialsError(f"{src} does not exist")
        ctx = _context(c2pa)
        definition = _manifest(claim, mime, ctx, c2pa)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=dest.suffix, dir=dest.parent)
        try:
            info = c2pa.C2paSignerInfo(self.alg, self.chain_pem.encode(), self._key_pem.encode(), None)  # no TSA
            with os.fdopen(fd, "w+b") as out, c2pa.Builder(definition, context=ctx) as builder, \
                    c2pa.Signer.from_info(info) as signer:
                for i, ing in enumerate(claim.ingredients):
                    with open(ing.path, "rb") as f:
                        builder.add_ingredient({"title": ing.title, "relationship": ing.relationship,
                                                "label": f"ingredient-{i}"}, _mime(ing.path), f)
                with open(src, "rb") as source:
                    builder.sign(signer, mime, source, out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, dest)
        except c2pa.C2paError as e:
            raise CredentialsError(f"could not sign {src.name}: {_one_line(e)}") from None
        except OSError as e:
            raise CredentialsError(f"could not sign {src.name}: {e.strerror or e} ({e.filename or dest})") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def read_credentials(path: Path, *, trust_anchors: Path | None = None) -> dict[str, Any]:
    """The manifest store as JSON (c2pa Reader) plus 'validation_state' (e.g. 'Valid' / 'Trusted' /
    'Invalid') and 'validation_codes', the failure codes; raises CredentialsError when the file has none.

    `trust_anchors`: a PEM file of root certificates to trust (the C2PA trust list, a studio's CA);
    without it no signer is trusted and the best state is 'Valid'."""
    c2pa = _c2pa()
    mime = _mime(path)
    anchors = _read(trust_anchors, "the trust anchors").decode() if trust_anchors else ""
    try:
        with open(path, "rb") as f, c2pa.Reader(mime, f, context=_context(c2pa, anchors)) as reader:
            store = json.loads(reader.json())
    except OSError as e:
        raise CredentialsError(f"cannot read {path}: {e.strerror or e}") from None
    except c2pa.C2paError.ManifestNotFound:
        raise CredentialsError(f"{path.name} carries no Content Credentials: export it with signing on") from None
    except c2pa.C2paError as e:
        raise CredentialsError(f"could not read the Content Credentials of {path.name}: {_one_line(e)}") from None
    store.setdefault("validation_state", "Invalid")
    store["validation_codes"] = [s.get("code", "") for s in store.get("validation_status") or []]
    return store


# --- the manifest ---------------------------------------------------------------------------------

def _manifest(claim: AssetClaim, mime: str, ctx, c2pa) -> dict[str, Any]:
    """The claim as c2pa's manifest definition: what made the asset, from what, approved by whom."""
    prov = claim.provenance
    labels = {i: f"ingredient-{i}" for i in range(len(claim.ingredients))}
    parents = [labels[i] for i, g in enumerate(claim.ingredients) if g.relationship == "parentOf"]
    inputs = [labels[i] for i, g in enumerate(claim.ingredients) if g.relationship == "inputTo"]
    parts = [labels[i] for i, g in enumerate(claim.ingredients) if g.relationship == "componentOf"]
    if len(parents) > 1:
        raise CredentialsError(f"{claim.title}: at most one ingredient can be its parentOf")
    for g in claim.ingredients:
        if not g.path.is_file():
            raise CredentialsError(f"ingredient {g.title!r} is missing: {g.path}")
        _mime(g.path)
    neural = not prov.non_neural
    if claim.composite:
        found = [g.neural if g.neural is not None else _neural_by_credentials(g.path, ctx, c2pa)
                 for g in claim.ingredients]
        if neural or any(found):
            source = COMPOSITE_TRAINED
        elif found and all(n is False for n in found):
            source = COMPOSITE_SYNTHETIC  # every part made by labelled non-neural defaults
        else:
            source = COMPOSITE  # some parts of unknown origin
    else:
        source = TRAINED if neural else ALGORITHMIC
    app = _app_version()
    # The tool verifiers show as having made the asset: the model when a model made it.
    agent = ({"name": prov.model_id} if neural and prov.model_id
             else {"name": f"inkubator {prov.backend}", "version": app})
    made: dict[str, Any] = {"digitalSourceType": source, "softwareAgent": agent}
    if inputs:
        made["parameters"] = {"ingredientIds": inputs}
    # C2PA 2.x: the first action is c2pa.created, or c2pa.opened naming the parent.
    actions = ([{"action": "c2pa.opened", "parameters": {"ingredientIds": parents}}, {"action": "c2pa.edited", **made}]
               if parents else [{"action": "c2pa.created", **made}])
    actions += [{"action": "c2pa.placed", "parameters": {"ingredientIds": [p]}} for p in parts]
    return {
        "claim_generator_info": [{"name": "inkubator", "version": app}],
        "title": claim.title,
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": PROVENANCE_LABEL, "data": prov.model_dump(mode="json")},
        ],
    }


def _neural_by_credentials(path: Path, ctx, c2pa) -> bool | None:
    """What an ingredient's own manifest says made it: True (a trained model), False (algorithmic), None (unknown)."""
    try:
        with open(path, "rb") as f, c2pa.Reader(_mime(path), f, context=ctx) as reader:
            store = json.loads(reader.json())
    except (c2pa.C2paError, OSError, ValueError):
        return None
    manifest = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    kinds = [a.get("digitalSourceType", "").rsplit("/", 1)[-1]
             for s in manifest.get("assertions", []) if s.get("label", "").startswith("c2pa.actions")
             for a in (s.get("data") or {}).get("actions", [])]
    if any(k.lower().endswith("trainedalgorithmicmedia") for k in kinds):
        return True
    if any(k in ("algorithmicMedia", "compositeSynthetic") for k in kinds):
        return False
    return None


# --- c2pa -----------------------------------------------------------------------------------------

def _c2pa():
    """c2pa-python, imported when first needed: its native library is not loaded at app start."""
    try:
        import c2pa
    except (ImportError, OSError) as e:
        raise CredentialsError(f"Content Credentials need c2pa-python: pip install 'c2pa-python>=0.38' ({e})") from None
    return c2pa


def _context(c2pa, anchors: str = ""):
    """c2pa settings that keep signing and reading offline and accept the EKUs C2PA accepts."""
    settings: dict[str, Any] = {
        "version": 1,
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "core": {"allowed_network_hosts": []},  # an empty list refuses every host
        "trust": {"trust_config": "\n".join(ACCEPTED_EKUS)},
    }
    if anchors:
        settings["trust"]["trust_anchors"] = anchors
    try:
        return c2pa.Context.from_dict(settings)
    except c2pa.C2paError as e:
        raise CredentialsError(f"c2pa refused its settings: {_one_line(e)}") from None


def _mime(path: Path) -> str:
    try:
        return MIME[path.suffix.lower()]
    except KeyError:
        kinds = ", ".join(sorted(MIME))
        raise CredentialsError(f"{path.name}: Content Credentials cover {kinds} files only") from None


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


def _app_version() -> str:
    try:
        return version("inkubator-tui")
    except PackageNotFoundError:
        return "0"


# --- keys and certificates ------------------------------------------------------------------------

def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CredentialsError(f"cannot read {what} at {path}: {e.strerror or e}") from None


def _alg(private) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(private, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(private.curve.name)
        if alg:
            return alg
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(private, rsa.RSAPrivateKey) and private.key_size >= 2048:
        return "ps256"  # C2PA allows RSA only with PSS
    raise CredentialsError("the signing key must be EC P-256/384/521, Ed25519 or RSA of 2048 bits or more")


def _certificate_problem(cert) -> str:
    """Why c2pa-rs would refuse this end-entity certificate, or '' (its profile check, §14.5 of the spec)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    def ext(kind):
        try:
            return cert.extensions.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None

    now = dt.datetime.now(dt.timezone.utc)
    if cert.version != x509.Version.v3:
        return "is not X.509 v3"
    if now < cert.not_valid_before_utc:
        return f"is not valid before {cert.not_valid_before_utc:%Y-%m-%d}"
    if now > cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    bc = ext(x509.BasicConstraints)
    if bc is not None and bc.ca:
        return "is a CA certificate; sign with an end-entity certificate"
    ku = ext(x509.KeyUsage)
    if ku is None or not (ku.digital_signature or ku.content_commitment) or ku.key_cert_sign:
        return "needs key usage digitalSignature (and not keyCertSign)"
    eku = ext(x509.ExtendedKeyUsage)
    oids = {o.dotted_string for o in eku} if eku is not None else set()
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string in oids or not oids & set(ACCEPTED_EKUS):
        return "needs an extended key usage C2PA accepts, such as emailProtection or documentSigning"
    if ext(x509.AuthorityKeyIdentifier) is None:
        return "needs an authority key identifier"
    return ""


def _describe(cert) -> str:
    from cryptography.x509.oid import NameOID

    def first(oid):
        found = cert.subject.get_attributes_for_oid(oid)
        return str(found[0].value) if found else ""

    cn, org = first(NameOID.COMMON_NAME), first(NameOID.ORGANIZATION_NAME)
    if cn and org and org not in cn:
        return f"{cn} ({org})"
    return cn or org or cert.subject.rfc4514_string()


def _create_installation_key(folder: Path) -> None:
    """A P-256 key and a two-certificate chain made for this installation: a small local CA
    (its key is thrown away, so it can never vouch for anything else) and the signing certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                             encipher_only=False, decipher_only=False)

    tag = secrets.token_hex(4)
    org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "inkubator installation")
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"inkubator local CA {tag}"), org])
    ee_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"inkubator installation {tag}"), org])
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)  # tolerate a clock a little behind
    end = start + dt.timedelta(days=INSTALLATION_DAYS)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(False, True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    ee = (x509.CertificateBuilder().subject_name(ee_name).issuer_name(ca_name).public_key(key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(usage(True, False), critical=True)
          # emailProtection: accepted by every validator's defaults; the C2PA OID says what it is for
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                                ObjectIdentifier(C2PA_CLAIM_SIGNING)]), critical=False)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    chain_pem = ee.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)

    # Both files appear together or not at all: written in a private temp folder (mode 0700),
    # which then takes the folder's name. When another process got there first, its pair wins.
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX + "credentials-", dir=folder.parent))
    try:
        fd = os.open(tmp / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        (tmp / CHAIN_FILE).write_bytes(chain_pem)
        try:
            os.rename(tmp, folder)  # replaces an empty folder on POSIX
        except OSError:
            if (folder / KEY_FILE).exists() and (folder / CHAIN_FILE).exists():
                return
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / CHAIN_FILE, folder / CHAIN_FILE)
            os.replace(tmp / KEY_FILE, folder / KEY_FILE)
    except OSError as e:
        raise CredentialsError(f"cannot store the signing key in {folder}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
