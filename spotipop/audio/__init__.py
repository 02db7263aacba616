"""Audio in: decoding files to clips, the STFT, and descriptors of a waveform."""
