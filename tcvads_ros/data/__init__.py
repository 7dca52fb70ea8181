"""Data formats (UCF-Crime, XD-Violence, VadCLIP feature lists) and the synthetic benchmark."""
