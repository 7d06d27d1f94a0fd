"""Rule build_demo_model: build a tiny local model for the offline demo."""

from xlt.demo_models import DemoModelSpec, build_demo_model
from xlt.jobs import start_job
from xlt.modeling import local_model_ref
from xlt.provenance import write_provenance

started = start_job(snakemake.log[0], snakemake.threads)
spec_params = {k: v for k, v in snakemake.params.spec.items() if k != "corpus"}
spec = DemoModelSpec(**spec_params, chat=snakemake.params.chat)
build_demo_model(list(snakemake.input.corpus), spec, snakemake.output.model)
ref = local_model_ref(snakemake.wildcards.model, snakemake.output.model)
ref.save(snakemake.output.marker)
write_provenance(
    snakemake.output.marker,
    rule="build_demo_model",
    inputs={"corpus": list(snakemake.input.corpus)},
    params={"spec": dict(snakemake.params.spec), "chat": snakemake.params.chat},
    started=started,
    model={
        "name": ref.name,
        "load_from": ref.load_from,
        "revision": ref.revision,
        "weights_sha256": ref.weights_sha256,
    },
)
