"""mditface: MDiTFace (mask + text face generation on FLUX with decoupled attention) and its ablations."""

import logging

# bitsandbytes (imported by peft and pyiqa) warns at import, on CPUs with AVX512-BF16, that it could not fetch an
# optional kernel from the Hugging Face hub, which nothing here uses or may reach: not a message for our users.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
