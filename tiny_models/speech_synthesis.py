"""Tiny SpeechT5 text-to-speech, voice conversion, HiFi-GAN vocoder and a speaker x-vector.

The miniatures keep what the handlers depend on from the real repos: 80 mel bins, a
512-wide speaker embedding, 16 kHz audio, a vocoder that turns each mel frame into 256
samples, the character SentencePiece tokenizer with fairseq's special ids, the speech
encoder's 320-sample stride, and the position limits transformers'
convert_speecht5_original_pytorch_checkpoint_to_pytorch.py gives each task (text-to-speech:
600 text and 1876 speech positions, the tokenizer's model_max_length the text limit; voice
conversion: 1876 speech positions). The processor is saved as that script saves it, in the files
of its time (preprocessor_config.json, spm_char.model, tokenizer_config.json).
"""

from __future__ import annotations

from pathlib import Path

from tiny_models.speech import save_processor, speecht5_char_model

# The speaker used in SpeechT5's examples (CMU ARCTIC "slt", US female), as the dataset names it.
XVECTOR_FILE = "spkrec-xvect/cmu_us_slt_arctic-wav-arctic_a0508.npy"
OTHER_SPEAKERS = ("clb", "bdl", "rms", "awb", "jmk", "ksp")
XVECTOR_DIM = 512
MEL_BINS = 80
TTS_TEXT_POSITIONS = 600
ASR_TEXT_POSITIONS = 450  # SpeechT5Config's default, kept by the other tasks
SPEECH_POSITIONS = 1876


def _processor(folder: Path, text_positions: int):
    """SpeechT5's processor: the character tokenizer (spm_char.model) and the feature extractor."""
    from transformers import SpeechT5FeatureExtractor, SpeechT5Processor, SpeechT5Tokenizer

    spm_path = speecht5_char_model(folder / "spm_char.model")
    processor = SpeechT5Processor(
        feature_extractor=SpeechT5FeatureExtractor(num_mel_bins=MEL_BINS),
        tokenizer=SpeechT5Tokenizer(vocab_file=str(spm_path), model_max_length=text_positions),
    )
    save_processor(processor, folder)
    return processor


def _config(tokenizer, **positions: int):
    from transformers import SpeechT5Config

    return SpeechT5Config(
        vocab_size=len(tokenizer), hidden_size=32, encoder_layers=2, encoder_attention_heads=2,
        encoder_ffn_dim=37, decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=37,
        num_mel_bins=MEL_BINS, speaker_embedding_dim=XVECTOR_DIM,
        speech_decoder_prenet_units=16, speech_decoder_postnet_layers=2, speech_decoder_postnet_units=16,
        conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id, **positions,
    )


def build_speecht5_tts(folder: Path) -> None:
    """microsoft/speecht5_tts: text encoder, mel decoder conditioned on a speaker x-vector."""
    from transformers import SpeechT5ForTextToSpeech

    processor = _processor(folder, TTS_TEXT_POSITIONS)
    config = _config(processor.tokenizer, max_text_positions=TTS_TEXT_POSITIONS, max_speech_positions=SPEECH_POSITIONS,
                     max_length=SPEECH_POSITIONS)
    SpeechT5ForTextToSpeech(config).save_pretrained(folder)


def build_speecht5_vc(folder: Path) -> None:
    """microsoft/speecht5_vc: waveform encoder, mel decoder conditioned on a speaker x-vector."""
    from transformers import SpeechT5ForSpeechToSpeech

    processor = _processor(folder, ASR_TEXT_POSITIONS)
    config = _config(processor.tokenizer, max_speech_positions=SPEECH_POSITIONS, max_length=SPEECH_POSITIONS)
    SpeechT5ForSpeechToSpeech(config).save_pretrained(folder)


def build_hifigan(folder: Path) -> None:
    """microsoft/speecht5_hifigan: 80-bin mels to 16 kHz audio, 4*4*4*4 = 256 samples a frame, the
    mels first normalised by the training statistics kept in the checkpoint (normalize_before, its
    `mean` and `scale` buffers; transformers' convert_hifigan.py loads them from the stats file)."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    config = SpeechT5HifiGanConfig(
        model_in_dim=MEL_BINS, sampling_rate=16000, upsample_initial_channel=16,
        upsample_rates=[4, 4, 4, 4], upsample_kernel_sizes=[8, 8, 8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], normalize_before=True,
    )
    SpeechT5HifiGan(config).save_pretrained(folder)


def build_xvectors(folder: Path) -> None:
    """Matthijs/cmu-arctic-xvectors, reduced to one utterance's x-vector per speaker (unit length, as
    real ones): the default speaker's file SpeechT5's examples use, and one for each other speaker.
    The dataset publishes them as one `spkrec-xvect.zip` of `spkrec-xvect/<utterance>.npy` (its
    loading script reads that folder inside the archive); `download` unpacks it beside itself, so
    the miniature holds both, as a downloaded copy does."""
    import zipfile

    import numpy as np

    paths = [folder / XVECTOR_FILE, *(folder / f"spkrec-xvect/cmu_us_{name}_arctic-wav-arctic_a0001.npy"
                                      for name in OTHER_SPEAKERS)]
    paths[0].parent.mkdir(parents=True)
    for path in paths:
        vector = np.random.standard_normal(XVECTOR_DIM).astype(np.float32)
        np.save(path, vector / np.linalg.norm(vector))
    with zipfile.ZipFile(folder / "spkrec-xvect.zip", "w") as archive:
        for path in paths:
            archive.write(path, path.relative_to(folder).as_posix())
