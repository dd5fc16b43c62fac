"""The cost table's counts: full-size networks on the meta device, steps from the settings."""

import pytest

from studies import cost_table


@pytest.mark.slow  # a minute: SD 2.1's U-Net and CIFAR-10's base-256 U-Net counted
def test_the_sd_unet_is_counted_at_full_size_and_the_paper_steps_are_epochs_of_the_global_batch():
    celeba, coco = cost_table.segmentation_rows("paper")
    assert 860e6 < celeba.parameters < 870e6  # SD 2.1's U-Net, widened to 8 channels
    assert 7e11 < celeba.evaluation_flops < 3.5e12  # ~0.8 TFLOP a sample, and the VAE's decoding
    assert celeba.train_steps == 200 * -(-24_183 // 64) and coco.train_steps == 200 * -(-118_287 // 128)
    assert celeba.global_batch == 64 and coco.global_batch == 128
    assert coco.gpu_hours("H100 SXM") < coco.gpu_hours("A100")


@pytest.mark.slow  # a minute: SD 2.1's U-Net and CIFAR-10's base-256 U-Net counted
def test_classification_rows_count_the_published_diffusion_classifier():
    (mnist, cifar) = cost_table.classification_rows("paper")
    assert mnist.train_steps == 118_000 and cifar.train_steps == 278_000
    assert mnist.evaluations >= 1000 * 2750  # 1,000 images at 2,750 network evaluations each
    assert cifar.train_step_flops > 10 * mnist.train_step_flops  # base 256 against base 32
