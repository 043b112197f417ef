"""Tiny SpeechT5 text-to-speech, voice conversion, HiFi-GAN vocoder and a speaker x-vector.

The miniatures keep what the handlers depend on from the real repos: 80 mel bins, a
512-wide speaker embedding, 16 kHz audio, a vocoder that turns each mel frame into 256
samples, a character SentencePiece tokenizer, and the speech encoder's 320-sample stride.
"""

from __future__ import annotations

from pathlib import Path

from tiny_models.tokenizers import sentencepiece_char_model

# The speaker used in SpeechT5's examples (CMU ARCTIC "slt", US female), as the dataset names it.
XVECTOR_FILE = "spkrec-xvect/cmu_us_slt_arctic-wav-arctic_a0508.npy"
OTHER_SPEAKERS = ("clb", "bdl", "rms", "awb", "jmk", "ksp")
XVECTOR_DIM = 512
MEL_BINS = 80


def _processor(folder: Path):
    """SpeechT5's processor: the character tokenizer (spm_char.model) and the feature extractor."""
    from transformers import SpeechT5FeatureExtractor, SpeechT5Processor, SpeechT5Tokenizer

    spm_path = sentencepiece_char_model(folder / "spm_char.model")
    processor = SpeechT5Processor(
        feature_extractor=SpeechT5FeatureExtractor(num_mel_bins=MEL_BINS),
        tokenizer=SpeechT5Tokenizer(vocab_file=str(spm_path)),
    )
    processor.save_pretrained(folder)
    return processor


def _config(vocab_size: int):
    from transformers import SpeechT5Config

    # The sentencepiece ids of tiny.tokenizers: <unk> 0, <s> 1, </s> 2, <pad> 3.
    return SpeechT5Config(
        vocab_size=vocab_size, hidden_size=32, encoder_layers=2, encoder_attention_heads=2,
        encoder_ffn_dim=37, decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=37,
        num_mel_bins=MEL_BINS, speaker_embedding_dim=XVECTOR_DIM,
        speech_decoder_prenet_units=16, speech_decoder_postnet_layers=2, speech_decoder_postnet_units=16,
        conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        pad_token_id=3, bos_token_id=1, eos_token_id=2, decoder_start_token_id=2,
    )


def build_speecht5_tts(folder: Path) -> None:
    """microsoft/speecht5_tts: text encoder, mel decoder conditioned on a speaker x-vector."""
    from transformers import SpeechT5ForTextToSpeech

    processor = _processor(folder)
    SpeechT5ForTextToSpeech(_config(len(processor.tokenizer))).save_pretrained(folder)


def build_speecht5_vc(folder: Path) -> None:
    """microsoft/speecht5_vc: waveform encoder, mel decoder conditioned on a speaker x-vector."""
    from transformers import SpeechT5ForSpeechToSpeech

    processor = _processor(folder)
    SpeechT5ForSpeechToSpeech(_config(len(processor.tokenizer))).save_pretrained(folder)


def build_hifigan(folder: Path) -> None:
    """microsoft/speecht5_hifigan: 80-bin mels to 16 kHz audio, 4*4*4*4 = 256 samples a frame."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    config = SpeechT5HifiGanConfig(
        model_in_dim=MEL_BINS, sampling_rate=16000, upsample_initial_channel=16,
        upsample_rates=[4, 4, 4, 4], upsample_kernel_sizes=[8, 8, 8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
    )
    SpeechT5HifiGan(config).save_pretrained(folder)


def build_xvectors(folder: Path) -> None:
    """Matthijs/cmu-arctic-xvectors, reduced to one utterance's x-vector per speaker (unit length, as
    real ones): the default speaker's file SpeechT5's examples use, and one for each other speaker."""
    import numpy as np

    paths = [folder / XVECTOR_FILE, *(folder / f"spkrec-xvect/cmu_us_{name}_arctic-wav-arctic_a0001.npy"
                                      for name in OTHER_SPEAKERS)]
    paths[0].parent.mkdir(parents=True)
    for path in paths:
        vector = np.random.standard_normal(XVECTOR_DIM).astype(np.float32)
        np.save(path, vector / np.linalg.norm(vector))
