"""Export for fine-tuning: kept trajectories as multi-turn multimodal conversations in a
trainer's format (`export-sft`; DESIGN.md, "Export for fine-tuning"). `conversation` renders
a record in a dialect, `formats` writes and checks a trainer's rows, `export` selects,
copies the images and writes the manifest."""
