"""Training: LoRA fine-tuning on the source languages, resumable, one GPU or many."""
