"""Diffusers config folders (no weights) for single-file Stable Diffusion checkpoints.

`StableDiffusionPipeline.from_single_file(path, config=folder, local_files_only=True)` needs a
diffusers-format folder describing the family's pipeline, or it tries the hub. These are the
configs of the repos diffusers maps each family to (`DIFFUSERS_DEFAULT_PIPELINE_PATHS`), with the
safety checker left out. The CLIP tokenizer's vocab.json/merges.txt (about 3 MB) are built on
demand from the gzipped BPE merges bundled here, which is how CLIP itself builds its vocabulary.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["FAMILIES", "materialise"]

FAMILIES: dict[str, str] = {
    "v1": "Stable Diffusion 1.x",
    "v2": "Stable Diffusion 2.x (768, v-prediction)",
    "xl_base": "Stable Diffusion XL 1.0 (base)",
}

BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
# Bumped when the generated files change while the bundled inputs do not, so a new folder is made.
_FORMAT = b"skeletons/1"


def _data():
    return resources.files(__name__)


def _walk(node, prefix: str = "") -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for child in node.iterdir():
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            files.update(_walk(child, rel + "/"))
        elif child.is_file() and child.name.endswith(".json"):
            files[rel] = child.read_bytes()
    return files


def _family_files(family: str) -> dict[str, bytes]:
    if family not in FAMILIES:
        raise KeyError(f"unknown Stable Diffusion family {family!r}; known families: {', '.join(FAMILIES)}")
    return _walk(_data() / family)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character table (ordering defines ids 0-255)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


@lru_cache(maxsize=1)
def _clip_tokenizer_files() -> tuple[bytes, bytes]:
    """vocab.json and merges.txt as in openai/clip-vit-large-patch14, built like CLIP's SimpleTokenizer."""
    lines = gzip.decompress((_data() / BPE_FILE).read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    vocab = list(_bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    vocab_json = json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False).encode("utf-8")
    merges_txt = ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)).encode("utf-8")
    return vocab_json, merges_txt


def _digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256(_FORMAT)
    for rel in sorted(files):
        h.update(b"\0" + rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    h.update(b"\0bpe\0" + hashlib.sha256((_data() / BPE_FILE).read_bytes()).digest())
    return h.hexdigest()[:12]


def materialise(family: str, dest_root: Path) -> Path:
    """Writes (once; idempotent, atomic via temp dir + rename) the full diffusers config folder for
    `family` under dest_root/<family>-<content hash> and returns it.

    The hash covers the bundled files, so an app update with changed configs gets a fresh folder and
    never reuses a stale one; readers never see a half-written folder. Raises KeyError for an
    unknown family.
    """
    files = _family_files(family)
    dest_root = Path(dest_root)
    final = dest_root / f"{family}-{_digest(files)}"
    if (final / "model_index.json").is_file():
        return final

    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{family}-", suffix=".tmp", dir=dest_root))
    try:
        vocab_json, merges_txt = _clip_tokenizer_files()
        for rel, data in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if path.name == "tokenizer_config.json":
                (path.parent / "vocab.json").write_bytes(vocab_json)
                (path.parent / "merges.txt").write_bytes(merges_txt)
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; the folder is plain config, readable like any cache
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first: its folder has the same content.
            if not (final / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
