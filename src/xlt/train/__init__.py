"""Training: LoRA fine-tuning on the source languages, resumable, one GPU or many.

- `settings`: LoraSettings, TrainSettings and the errors that refuse a run before it starts.
- `data`: tokenized examples (loss on the answer only) and the order of the batches.
- `model`: the base model (dequantized, or 4-bit for QLoRA) wrapped with LoRA.
- `checkpoints`: checkpoints beside the output, resumed only by the same run.
- `stop`: SIGTERM/SIGUSR1 to a checkpoint and exit status 75, for a rerun to resume.
- `adapter`: the finished adapter and its training summary, byte-identical across runs.
- `loop`: `finetune`, the whole run: set up, resume, train, save.
- `launch`: one process or `accelerate launch`, chosen from the job's GPUs and nodes.
- `guard`: finished adapters are never retrained or deleted by the workflow.
"""
