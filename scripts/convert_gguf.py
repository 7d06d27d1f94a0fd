"""Rule convert_gguf: a GGUF file (on disk or inside a package) becomes a Hugging Face model
directory under results/models/, once; its marker pins the GGUF's sha256 as the revision."""

from pathlib import Path

from xlt.models.gguf import GgufSource, convert, locate
from xlt.models.loading import ModelRef
from xlt.provenance.jobs import run_job
from xlt.study import MODEL_DIR

with run_job(snakemake) as job:
    model = snakemake.wildcards.model
    params = dict(snakemake.params.gguf)
    dtype = params.pop("dtype", "float32")
    params.pop("installed_version", None)
    source = GgufSource.from_config(params, name=model)
    located = locate(source, workdir=".", cache_dir=Path(MODEL_DIR.format(model=".gguf")))
    conversion = convert(located.path, snakemake.output.model, dtype=dtype)
    ref = ModelRef(
        name=model,
        load_from=snakemake.output.model,
        revision=f"sha256:{located.sha256}",
        source="gguf",
        weights_sha256=job.sha256(snakemake.output.model),
    )
    ref.save(snakemake.output.marker)
    job.record(
        snakemake.output.marker,
        inputs={"gguf": str(located.path)},
        params=dict(snakemake.params.gguf),
        model=ref.facts(),
        gguf=located.record(),
        conversion={k: v for k, v in conversion.items() if k not in ("files", "out_dir", "gguf")},
    )
