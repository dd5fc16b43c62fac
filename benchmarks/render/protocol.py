"""The authors' protocol beside this harness's, point by point: ``python -m benchmarks.render.protocol``.

For Tables 2-5 (the latent models) and 3 / 11 (the pixel classifiers), each point of the
authors' code (reference notes sections 5, 6, 10) is listed with what a run of the chosen
profile does -- the values read from the profile's settings, so that the page cannot drift from
them -- and, where the two differ, why.  ``benchmarks.run`` writes ``<out>/protocol.md`` beside
the tables it renders (linked from the results index); ``results/paper/protocol.md`` is the
paper profile's page, checked by the tests to match a fresh rendering.
"""

from __future__ import annotations

import sys
from pathlib import Path

from baselines.diffusion_classifier import PUBLISHED
from benchmarks.profiles import CLASSIFICATION, SEGSYNTH
from symmflow.errors import OneLineParser, UsageError
from symmflow.outputs import write_atomic

SAME = "the same"
TABLES = ("2", "3", "4", "5", "11")
"""The tables the page covers: a run of any of them writes it."""


def _latent_rows(profile: str) -> list[tuple[str, str, str, str]]:
    """(point, the authors, this run, why they differ) for Tables 2, 4 and 5."""
    s = SEGSYNTH[profile]
    latent = s.space == "latent"
    b, epochs = s.budget, s.latent.get("epochs")
    betas = ", ".join(f"{d} {s.symmflow_for(d).beta:g}" for d in s.datasets)
    gpus = s.latent.get("gpus", {})
    trained = (f"{epochs} epochs (warm-up {s.latent['warmup_epochs']}), lr {b.lr:g}, batch {b.batch_size} per "
               f"process, EMA {b.ema_decay:g}, {'float32' if b.mixed_precision == 'no' else b.mixed_precision}, "
               f"image weight {s.symmflow.image_weight:g}, "
               f"beta {betas}" if latent else
               f"{b.steps:,} steps of {b.batch_size}, lr {b.lr:g}, EMA {b.ema_decay:g}, image weight "
               f"{s.symmflow.image_weight:g}, beta {s.symmflow.beta:g}")
    fid, per_mask = s.latent.get("fid_samples", 0), s.latent.get("samples_per_mask", {})
    drawn = (", ".join(f"{n} per evaluation mask ({d})" for d, n in per_mask.items()) + f", at most {fid:,}"
             if per_mask else f"the evaluation masks repeated in turn up to {fid:,} samples")
    rows = [
        ("data", "CelebAMask-HQ, COCO-Stuff at 512 px", ", ".join(s.datasets) + f" at {s.resolution} px"
         if latent else f"{', '.join(s.datasets)} (the offline scene set)",
         "" if latent else "the cpu and gpu profiles run on data that ship offline"),
        ("network", "Stable Diffusion 2.1-base U-Net, conv_in / conv_out widened 4 -> 8 channels by duplicating "
         "the pretrained weights, the empty prompt's embedding", SAME if latent else "a pixel U-Net",
         "" if latent else "no Stable Diffusion on the offline profiles"),
        ("VAE", "sd-vae-ft-mse (scale 0.18215), not the SD folder's own", "the VAE of --vae DIR where given (its "
         "identity in every cell and network), else the --pretrained folder's own (vae/); its own scale" if latent
         else "none (pixel space)", "pass sd-vae-ft-mse with --vae for the authors' VAE" if latent else ""),
        ("encoding", "images by a sample of the VAE posterior, masks (palette colours, dequantised) by its mode",
         SAME if latent else "pixels as they are", ""),
        ("training", "200 epochs (warm-up 10), lr 8e-05, batch 32 per GPU on 2 (CelebAMask-HQ) / 4 (COCO-Stuff) "
         "GPUs, EMA 0.9, bf16, image weight 0.7, beta CelebAMask-HQ 10, COCO-Stuff 6",
         trained + (f"; GPUs as launched (the paper's: {', '.join(f'{d} {n}' for d, n in gpus.items())})"
                    if gpus else ""), "" if latent else "the profile's budget (its notes say how it was chosen)"),
        ("sampler", "Euler, step 0.04 (25 steps) for segmentation and FID samples, under bf16 autocast",
         "Euler (--solver), 25 steps for Table 2 and the curve of Tables 4 and 5, in float32",
         "a bf16 evaluation is not built; float32 is the reference precision"),
        ("mIoU", "torchmetrics JaccardIndex over the whole set; CelebAMask-HQ 19 classes, background ignored; "
         "COCO-Stuff 172 classes, 171 ignored", "a dataset-level confusion matrix; CelebAMask-HQ 19 classes, "
         "background ignored; COCO-Stuff 171 classes remapped from the raw ids, 255 ignored" if latent else
         "a dataset-level confusion matrix over the scene set's classes, background ignored",
         "the raw COCO-Stuff ids (0-181) do not fit 172 classes: the reference's last stuff classes collide "
         "(symmflow/data/cocostuff.py)" if latent else ""),
        ("evaluation split", "CelebAMask-HQ: the validation split of the eurecom-ds/celeba_hq_mask copy; COCO-Stuff "
         "val2017, randomly square-cropped, the last incomplete batch dropped",
         "CelebAMask-HQ: the test split of the official partition, or of a Hugging Face copy on disk -- its "
         "validation split where it has no test split, as the authors' copy; COCO-Stuff val2017, centre-cropped, "
         "every image" if latent else "the scene set's test scenes, built from digits the training scenes do not "
         "use", "a fixed evaluation set (a random crop makes the score depend on the draw)" if latent else ""),
        ("FID", "pytorch-fid on saved PNG samples, 17 per validation mask (CelebAMask-HQ) / 10 (COCO-Stuff), at "
         "most 50,000", f"pytorch-fid's and clean-fid's Inception on the samples in memory, {drawn}" if latent else
         "clean-fid's Inception where its weights are on disk (pytorch-fid's too where its are), else a Frechet "
         "distance in a network trained on the scene set (FD-scenenet), one sample per evaluation mask; beside it "
         "the SS U-Net's mIoU of the samples",
         "both named apart where their weights are in --inception-dir: FID (pytorch-fid), the authors' Inception "
         "on the samples quantised to 8 bits as their PNGs are, and FID (clean-fid); no PNG files are written"
         if latent else
         "no Inception weights offline; a Frechet distance does not see whether a scene shows its mask"),
        ("LPIPS", "AlexNet LPIPS of each sample against its own ground-truth image", SAME + ", and the diversity "
         "between samples of one mask named apart (LPIPS-diversity)", ""),
    ]
    return rows


AUTHORS_TRAINING = {"mnist": "lr 5e-4, batch 512, 1,000 epochs (117,200 steps), warm-up 100 epochs, bf16",
                    "cifar10": "lr 3e-4, batch 180, 1,000 epochs (277,800 steps), warm-up 100 epochs, bf16"}
"""The authors' training of the pixel classifiers (reference notes section 5)."""


def _pixel_rows(profile: str) -> list[tuple[str, str, str, str]]:
    """(point, the authors, this run, why they differ) for Tables 3 and 11."""
    rows = []
    for s in CLASSIFICATION[profile]:
        b = s.budget
        guided = hasattr(s.unet, "model_channels")
        rows.append((f"{s.dataset}: network", "the guided-diffusion U-Net (MNIST base 32, CIFAR-10 base 256, "
                     "attention in the middle block)", SAME + " (symmflow/models/guided_unet.py)" if guided else
                     "a diffusers pixel U-Net", "" if guided else "cheaper on the cpu and smoke profiles"))
        rows.append((f"{s.dataset}: training", AUTHORS_TRAINING["cifar10" if s.dataset == "cifar10" else "mnist"],
                     f"{b.steps:,} steps of {b.batch_size}, lr {b.lr:g}, warm-up {b.warmup_steps:,} steps, "
                     f"{'float32' if b.mixed_precision == 'no' else b.mixed_precision}", "" if guided else "the profile's budget (its notes say how it was chosen)"))
    rows += [("classification", "Euler, 1 step", "Euler, 1 and 25 steps (Table 3), the curve (Table 11)", ""),
             ("Diffusion Classifier", "500 candidate times, 50 for every class then the other 450 for the best 5 "
              "(2,750 NFE at 10 classes), L1 error", f"the same schedule (times {PUBLISHED.times}, keep "
              f"{PUBLISHED.keep}, {PUBLISHED.error})", ""),
             ("generation", "not measured in the paper's tables", "a Frechet distance in the cross-entropy "
              "classifier's features and that classifier's accuracy on the samples, beside class-conditional flow "
              "matching", "the paper calls SymmFlow a generator; this measures it")]
    return rows


def markdown(profile: str) -> str:
    lines = [f"# The authors' protocol and this harness's (profile `{profile}`)", "",
             "Point by point: what the authors' code does (reference notes, sections 5, 6 and 10) and what a run "
             f"of the {profile} profile does, read from its settings by `python -m benchmarks.render.protocol "
             f"--profile {profile}`; the last column says why they differ where they do.", ""]
    for title, rows in (("Tables 2, 4 and 5: segmentation and synthesis", _latent_rows(profile)),
                        ("Tables 3 and 11: classification", _pixel_rows(profile))):
        lines += [f"## {title}", "", "| point | the authors' code | this run | why they differ |", "|---|---|---|---|"]
        lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def write(out: Path, profile: str) -> Path:
    path = Path(out) / "protocol.md"
    write_atomic(path, markdown(profile))
    return path


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m benchmarks.render.protocol", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", help="the profile whose settings the page reads (default paper)")
    parser.add_argument("--out", type=Path, default=None, help="where protocol.md goes (default results/<profile>)")
    try:
        args = parser.parse_args(argv)
        if args.profile not in SEGSYNTH or args.profile not in CLASSIFICATION:
            raise UsageError(f"--profile {args.profile}: choose from {', '.join(SEGSYNTH)}")
        out = args.out or Path("results") / args.profile
        if not out.is_dir():
            raise UsageError(f"--out {out}: not a folder; create it or pass another")
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(write(out, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
