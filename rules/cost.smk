# The price of the study (`xlt cost`) and the pilot's measurements (`xlt pilot`), in the HTML
# report next to the findings: what the grid costs in GPU-hours and wall time, on which basis.
# A pilot run later adds its records as inputs, so the price is remade with the measured rates.
COST = f"{ANALYSIS.root}/cost"
PILOT_RECORDS = [
    path for model in STUDY.models if Path(path := f"{PILOT_DIR}/{model}.json").exists()
]
COST_OUTPUTS = [f"{COST}/price.csv", f"{COST}/price.txt", f"{COST}/pilot.csv"]


rule price:
    input:
        # Training examples are counted from the source languages' data.
        data=counted_files(STUDY),
        pilot=PILOT_RECORDS,
    output:
        price=report(update(f"{COST}/price.csv"), caption="../report/price.rst", category="Cost"),
        price_prov=sidecar(f"{COST}/price.csv"),
        text=report(update(f"{COST}/price.txt"), caption="../report/price.rst", category="Cost"),
        text_prov=sidecar(f"{COST}/price.txt"),
        pilot=report(update(f"{COST}/pilot.csv"), caption="../report/pilot.rst", category="Cost"),
        pilot_prov=sidecar(f"{COST}/pilot.csv"),
    log:
        f"{ANALYSIS.logs}/price.log",
    params:
        config=STUDY.config,
    localrule: True
    conda:
        "../envs/xlt.yaml"
    script:
        "../scripts/price.py"
