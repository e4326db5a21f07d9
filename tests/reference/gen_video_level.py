"""Writes the torch definitions of video-level evaluation, for io/clip_sampling.hpp,
io/video_crops.hpp, io/clip_average.hpp and r2plus1d-extract's
--clips-per-video / --crops / --video-level:

video_level.safetensors holds
- `starts.<n>_<T>_<K>`: floor(torch.linspace(0, n - T, K)) as int64 (cases in
  the metadata `starts`);
- `crops.<case>.clip` (3, 2, H, W) float32 and, for crop size S, `.center`
  (torchvision's CenterCrop), `.three` (3, 3, 2, S, S: start, centre and end
  of the longer side, centred on the shorter) and `.ten` (10, 3, 2, S, S:
  torchvision's TenCrop), cases in the metadata `crops` as `case:S`;
- `average.logits` (6, 7) with `average.probs`, mean(softmax(logits, 1), 0),
  and `average.features` (6, 16) with `average.mean`.

With Debian's ffmpeg it also makes video_level.mkv (50 frames of testsrc2,
160x120 at 25 fps, lossless, red rising left to right, green from frame 25 on)
and video_level_clf.safetensors (an R2Plus1DClassifier, 7 classes, layers
1,1,1,1, its head scaled up so that views differ in their probabilities) and
stores, for clips of 8
frames, 5 per video, 3 crops of 112 from the preset's 128x171 resize, the 15
clip logits (`video.rows`, clip-major) and their video-level mean probability
(`video.want`, (1, 7)), and the logits of the ten crops of one clip
(`video.ten`, (10, 7)), computed on the frames ffmpeg decodes."""

import argparse
import os
import shutil
import subprocess
import sys

import torch
import torchvision.transforms.functional as F
from torchvision.transforms._presets import VideoClassification

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)

from convert_checkpoint import save_safetensors  # noqa: E402
from gen_models import randomize_batch_norms  # noqa: E402
import seed_model as sm  # noqa: E402


HEAD_GAIN = 40.0


def uniform_starts(n, T, K):
    """The first frames of K clips of T frames spread over n frames."""
    if n < T:
        return torch.zeros(1, dtype=torch.int64)
    return torch.linspace(0, n - T, K).floor().to(torch.int64)


def three_crop(clip, S):
    """Start, centre and end of the longer side (the width when W >= H), centred on the shorter."""
    H, W = clip.shape[-2:]
    c = lambda e: int(round((e - S) / 2.0))  # noqa: E731  CenterCrop's rounding
    if W >= H:
        return [F.crop(clip, c(H), left, S, S) for left in (0, c(W), W - S)]
    return [F.crop(clip, top, c(W), S, S) for top in (0, c(H), H - S)]


def crops(clip, n, S):
    if n == 1:
        return [F.center_crop(clip, [S, S])]
    if n == 3:
        return three_crop(clip, S)
    return list(F.ten_crop(clip, [S, S]))


def decode(ffmpeg, path, w, h):
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, h, w, 3).clone()


def video_case(out, tensors, gen):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("no ffmpeg: the video case is not written", flush=True)
        return
    video = os.path.join(out, "video_level.mkv")
    # Red rises left to right and green turns on at frame 25, so that crops and clips see different colours.
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=160x120:rate=25,format=gbrp,geq=r='X*255/W':g='if(lt(N,25),0,255)':b='b(X,Y)'",
                    "-frames:v", "50", "-c:v", "ffv1", "-pix_fmt", "bgr0", video], check=True)
    frames = decode(ffmpeg, video, 160, 120)  # (50, 120, 160, 3)
    clf = sm.R2Plus1DClassifier(7, (1, 1, 1, 1))
    randomize_batch_norms(clf, gen)
    with torch.no_grad():
        clf.linear.weight.mul_(HEAD_GAIN)  # peaked probabilities, unlike a random head's nearly uniform ones
    clf.eval()
    save_safetensors(clf.state_dict(), os.path.join(out, "video_level_clf.safetensors"))
    # The preset without its crop: resized (uint8, rounded), scaled and normalised, (3, T, 128, 171).
    full = VideoClassification(crop_size=(128, 171), resize_size=(128, 171))
    T, K, n_crops, S = 8, 5, 3, 112
    views = []
    for s in uniform_starts(frames.shape[0], T, K).tolist():
        with torch.no_grad():
            clip = full(frames[s:s + T].permute(0, 3, 1, 2))
        views += crops(clip, n_crops, S)
    with torch.no_grad():
        logits = clf(torch.stack(views).contiguous())
    tensors["video.rows"] = logits
    tensors["video.want"] = torch.softmax(logits, 1).mean(0, keepdim=True)
    # One clip (K = 1 starts at 0), torchvision's ten crops.
    with torch.no_grad():
        clip = full(frames[0:T].permute(0, 3, 1, 2))
        tensors["video.ten"] = clf(torch.stack(crops(clip, 10, S)).contiguous())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(11)
    tensors = {}

    starts = []
    for n, T, K in ((100, 16, 5), (16, 16, 5), (17, 16, 5), (20, 16, 10), (30, 16, 1), (1000, 16, 7),
                    (250, 16, 10), (123, 8, 9), (300, 32, 13), (75, 16, 4), (53, 16, 6), (10, 16, 5),
                    (1, 1, 3), (64, 1, 64), (999, 16, 31), (401, 16, 20)):
        name = "%d_%d_%d" % (n, T, K)
        starts.append(name)
        tensors["starts." + name] = uniform_starts(n, T, K)

    crop_cases = []
    for H, W, S in ((128, 171, 112), (13, 9, 5), (9, 13, 5), (8, 8, 8), (10, 7, 7), (7, 10, 7), (7, 10, 4),
                    (11, 11, 6), (12, 15, 6)):
        case = "%dx%d" % (H, W)
        name = "%s_%d" % (case, S)
        crop_cases.append("%s:%d" % (name, S))
        clip = torch.randn(3, 2, H, W, generator=gen)
        tensors["crops.%s.clip" % name] = clip
        tensors["crops.%s.center" % name] = F.center_crop(clip, [S, S]).contiguous()
        tensors["crops.%s.three" % name] = torch.stack(three_crop(clip, S)).contiguous()
        tensors["crops.%s.ten" % name] = torch.stack(list(F.ten_crop(clip, [S, S]))).contiguous()

    logits = torch.randn(6, 7, generator=gen) * 3
    features = torch.rand(6, 16, generator=gen) * 4
    tensors["average.logits"] = logits
    tensors["average.probs"] = torch.softmax(logits, 1).mean(0, keepdim=True)
    tensors["average.features"] = features
    tensors["average.mean"] = features.mean(0, keepdim=True)

    video_case(args.out, tensors, gen)
    save_safetensors({k: v.contiguous() for k, v in tensors.items()}, os.path.join(args.out, "video_level.safetensors"),
                     metadata={"starts": ",".join(starts), "crops": ",".join(crop_cases)})
    print("wrote", len(tensors), "tensors", flush=True)


if __name__ == "__main__":
    main()
