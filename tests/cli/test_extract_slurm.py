"""r2plus1d-extract at scale on a one-node Slurm cluster started here
(scripts/slurm/local_cluster.sh: munged, slurmctld and slurmd of Debian's
munge and slurm-wlm): a 2-task array of scripts/slurm/extract.sbatch over a
small generated dataset, --merge checking it against the input list and
writing index.csv (equal to that of one process over the same inputs, and
the same features), a lost and a damaged output found by --merge and listed
for a rerun that repairs them, a merge refused while a shard still runs,
and --shard auto's environments (Slurm, Kubernetes Indexed Jobs). Fails if
the cluster does not come up. Prints 'N passed, N failed' and exits non-zero
on any failure."""

import fcntl
import os
import subprocess
import sys

import numpy as np

from cli_harness import check, parse_args, run, summary

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
CLUSTER = os.path.join(ROOT, "scripts", "slurm", "local_cluster.sh")
SBATCH = os.path.join(ROOT, "scripts", "slurm", "extract.sbatch")
NET = ["--layers", "1,1,1,1"]


def clips(path, n, seed):
    np.save(path, np.random.default_rng(seed).standard_normal((n, 3, 4, 16, 16)).astype(np.float32))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    a = parse_args()
    exe, work = os.path.abspath(a.exe), os.path.abspath(a.work)
    p = lambda *f: os.path.join(work, *f)  # noqa: E731

    # A dataset of 5 inputs, two in a subfolder, 1-3 clips each, and its list.
    os.makedirs(p("data", "sub"))
    inputs = []
    for i, (rel, n) in enumerate([("a.npy", 2), ("b.npy", 1), ("sub/c.npy", 3), ("sub/d.npy", 1), ("e.npy", 2)]):
        clips(p("data", rel), n, i)
        inputs.append(p("data", rel))
    with open(p("list.txt"), "w") as f:
        f.write("".join(x + "\n" for x in inputs))
    total = 9

    # The reference: one process over the whole list.
    r = run(exe, *NET, "--threads", "1", "--quiet", "--input-list", p("list.txt"), "--output-dir", p("one"))
    check("one process over the list: exit 0", r.returncode == 0, r.stderr)

    # --shard auto outside an array job, and in a Kubernetes Indexed Job.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") and k != "JOB_COMPLETION_INDEX"}
    r = subprocess.run([exe, *NET, "--quiet", "--shard", "auto", "--input-list", p("list.txt"), "--output-dir",
                        p("k8s")], capture_output=True, text=True, env=env)
    check("--shard auto outside an array job: exit 1, one line naming --shard K/N",
          r.returncode == 1 and r.stderr.count("\n") == 1 and "--shard K/N" in r.stderr, r.stderr)
    r = subprocess.run([exe, *NET, "--shard", "auto", "--input-list", p("list.txt"), "--output-dir", p("k8s")],
                       capture_output=True, text=True, env=dict(env, JOB_COMPLETION_INDEX="1"))
    check("JOB_COMPLETION_INDEX without --shard-count: exit 1", r.returncode == 1 and "--shard-count" in r.stderr,
          r.stderr)
    r = subprocess.run([exe, *NET, "--quiet", "--shard", "auto", "--shard-count", "2", "--input-list", p("list.txt"),
                        "--output-dir", p("k8s")], capture_output=True, text=True, env=dict(env, JOB_COMPLETION_INDEX="1"))
    check("Indexed Job task 1 of 2: exit 0, writes index.1-of-2.csv, b and d only",
          r.returncode == 0 and os.path.isfile(p("k8s", "index.1-of-2.csv")) and
          sorted(os.listdir(p("k8s"))) == [".r2plus1d-extract", "b.npy", "d.npy", "index.1-of-2.csv"],
          r.stderr + str(os.listdir(p("k8s"))))
    r = subprocess.run([exe, *NET, "--shard", "auto", "--input-list", p("list.txt"), "--output-dir", p("k8s")],
                       capture_output=True, text=True, env=dict(env, SLURM_ARRAY_TASK_ID="5", SLURM_ARRAY_TASK_COUNT="2",
                                                                SLURM_ARRAY_TASK_MIN="4"))
    check("array task 5 of --array=4-5 is shard 1/2: exit 0", r.returncode == 0, r.stderr)
    r = subprocess.run([exe, *NET, "--shard", "auto", "--input-list", p("list.txt"), "--output-dir", p("k8s")],
                       capture_output=True, text=True, env=dict(env, SLURM_ARRAY_TASK_ID="7", SLURM_ARRAY_TASK_COUNT="2"))
    check("an array task id past the count: exit 1", r.returncode == 1 and "array" in r.stderr, r.stderr)

    # The cluster.
    r = subprocess.run(["bash", CLUSTER, "start", p("cluster")], capture_output=True, text=True)
    up = r.returncode == 0
    check("the one-node Slurm cluster comes up", up, r.stdout + r.stderr)
    if not up:
        sys.exit(summary())
    env = dict(os.environ, SLURM_CONF=p("cluster", "slurm.conf"), R2PLUS1D_EXTRACT=exe)
    try:
        r = subprocess.run(["sbatch", "--wait", "--array=0-1", "--cpus-per-task=1", "--chdir", work,
                            "--output", p("slurm-%A_%a.out"), SBATCH, *NET, "--input-list", p("list.txt"),
                            "--output-dir", p("out")], capture_output=True, text=True, env=env, timeout=600)
        logs = "".join(read(p(f)).decode() for f in sorted(os.listdir(work)) if f.startswith("slurm-"))
        check("sbatch --wait --array=0-1 extract.sbatch: exit 0", r.returncode == 0, r.stdout + r.stderr + logs)
        names = sorted(os.listdir(p("out")))
        check("each task wrote its shard index", "index.0-of-2.csv" in names and "index.1-of-2.csv" in names,
              str(names))

        r = run(exe, "--merge", p("out"), "--input-list", p("list.txt"))
        check("--merge: exit 0", r.returncode == 0, r.stderr)
        check("--merge reports 5 complete, 2 shard indexes",
              "5 complete, 0 missing, 0 failed; 2 shard index(es)" in r.stderr, r.stderr)
        check("index.csv equals one process's", read(p("out", "index.csv")).replace(b"/out/", b"/one/") ==
              read(p("one", "index.csv")), read(p("out", "index.csv")).decode()[:400])
        check("index.csv has a row per clip", read(p("out", "index.csv")).count(b"\n") == total + 1)
        same = all(np.array_equal(np.load(p("out", rel)), np.load(p("one", rel)))
                   for rel in ("a.npy", "b.npy", "c.npy", "d.npy", "e.npy"))
        check("the shards' features equal one process's", same)
        check("no incomplete.txt when all are complete", not os.path.exists(p("out", "incomplete.txt")))

        # A lost output and a damaged one.
        os.remove(p("out", "c.npy"))
        with open(p("out", "e.npy"), "r+b") as f:
            f.truncate(100)
        r = run(exe, "--merge", p("out"), "--input-list", p("list.txt"))
        check("--merge with a lost and a damaged output: exit 3", r.returncode == 3, r.stderr)
        check("... names the lost one as missing", "missing: '%s'" % p("data", "sub/c.npy") in r.stderr, r.stderr)
        check("... names the damaged one as failed", "failed: '%s'" % p("data", "e.npy") in r.stderr, r.stderr)
        listed = read(p("out", "incomplete.txt")).decode().splitlines() if os.path.exists(p("out", "incomplete.txt")) else []
        check("incomplete.txt lists exactly those two", sorted(listed) == sorted([p("data", "sub/c.npy"),
                                                                                   p("data", "e.npy")]), str(listed))
        check("index.csv keeps the rows of the 3 complete inputs only", read(p("out", "index.csv")).count(b"\n") == 1 + 2 + 1 + 1 + 0)
        r = subprocess.run(["sbatch", "--wait", "--array=0-0", "--cpus-per-task=1", "--output", p("rerun-%A_%a.out"),
                            SBATCH, *NET, "--overwrite", "--input-list", p("out", "incomplete.txt"), "--output-dir",
                            p("out")], capture_output=True, text=True, env=env, timeout=600)
        check("a rerun of incomplete.txt as a 1-task array: exit 0", r.returncode == 0, r.stdout + r.stderr)
        r = run(exe, "--merge", p("out"), "--input-list", p("list.txt"))
        check("--merge after the rerun: exit 0, all complete", r.returncode == 0 and "5 complete" in r.stderr, r.stderr)
        check("index.csv again equals one process's", read(p("out", "index.csv")).replace(b"/out/", b"/one/") ==
              read(p("one", "index.csv")))
        check("incomplete.txt removed once nothing is left", not os.path.exists(p("out", "incomplete.txt")))
    finally:
        subprocess.run(["bash", CLUSTER, "stop", p("cluster")], capture_output=True, text=True)

    # A merge while a shard still holds its index, and bad merges.
    with open(p("out", ".r2plus1d-extract", "index.0-of-2.csv.lock"), "r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = run(exe, "--merge", p("out"), "--input-list", p("list.txt"))
        check("--merge while a shard runs: exit 1, says to wait", r.returncode == 1 and "still running" in r.stderr,
              r.stderr)
    r = run(exe, "--merge", p("out"))
    check("--merge without the inputs: exit 1, asks for them", r.returncode == 1 and "--input-list" in r.stderr, r.stderr)
    r = run(exe, "--merge", p("data"), "--input-list", p("list.txt"))
    check("--merge of a directory the tool did not write: exit 1", r.returncode == 1 and "not an output directory" in
          r.stderr, r.stderr)
    r = run(exe, "--merge", p("out"), "--shard", "0/2", "--input-list", p("list.txt"))
    check("--merge with --shard: exit 1", r.returncode == 1 and "--shard" in r.stderr, r.stderr)
    sys.exit(summary())


if __name__ == "__main__":
    main()
