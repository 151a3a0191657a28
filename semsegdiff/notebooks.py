"""Run the parameterized notebooks headless through papermill."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import NotebookError, OutputError, SettingError

KERNEL = "semsegdiff"


def headless_env(root: str | Path) -> None:
    """Point matplotlib, IPython and Jupyter at folders under ``root/.cache`` unless already set."""
    cache = Path(root).resolve() / ".cache"
    defaults = {
        "MPLCONFIGDIR": cache / "matplotlib", "IPYTHONDIR": cache / "ipython",
        "JUPYTER_CONFIG_DIR": cache / "jupyter/config", "JUPYTER_DATA_DIR": cache / "jupyter/data",
        "JUPYTER_RUNTIME_DIR": cache / "jupyter/runtime", "XDG_CACHE_HOME": cache / "xdg",
        "TORCH_HOME": cache / "torch", "HF_HOME": cache / "huggingface",
    }
    ours = os.environ.get("IPYTHONDIR", str(defaults["IPYTHONDIR"])) == str(defaults["IPYTHONDIR"])  # the repo's
    for key, path in defaults.items():
        os.environ.setdefault(key, str(path))
        Path(os.environ[key]).mkdir(parents=True, exist_ok=True)
    config = Path(os.environ["IPYTHONDIR"]) / "profile_default" / "ipython_kernel_config.py"
    if ours and not config.exists():  # the kernel's one harmless warning on every run ("running over TCP ...")
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("# written by semsegdiff.notebooks.headless_env: headless kernels log errors only\n"
                          "c.IPKernelApp.log_level = 'ERROR'\n")
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def find_notebooks(notebooks_dir: str | Path = "notebooks", only: list[str] | None = None) -> list[Path]:
    """Notebooks in run order (by file name); ``only`` keeps those whose name contains any entry."""
    notebooks_dir = Path(notebooks_dir)
    found = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not found:
        ours = Path(__file__).resolve().parent.parent / "notebooks"  # an editable install's repository
        hint = f"this installation's are in {ours}" if ours != notebooks_dir.resolve() and any(ours.glob("*.ipynb")) \
            else "run it from the repository's root"
        where = "does not exist" if not notebooks_dir.exists() else "holds no notebooks (*.ipynb)"
        raise NotebookError(f"{notebooks_dir.resolve()}: {where}, so there are no notebooks to run; pass --notebooks "
                            f"with the folder of semsegdiff's notebooks ({hint})")
    if only:
        found = [p for p in found if any(o in p.stem for o in only)]
        if not found:
            raise NotebookError(f"{notebooks_dir}: no notebook matches {only}")
    return found


def run_notebooks(profile: str = "quick", *, only: list[str] | None = None, parameters: dict[str, Any] | None = None,
                  notebooks_dir: str | Path = "notebooks", out_dir: str | Path = "runs", root: str | Path = ".",
                  kernel: str = KERNEL, progress: bool = True, jobs: int = 1) -> list[Path]:
    """Execute notebooks in order with ``profile`` and ``parameters``; executed copies go to ``out_dir/profile``.

    Every notebook gets ``root`` (the project folder, for data, figures and runs) as an absolute
    path. Raises :class:`NotebookError` naming the notebook and cell at the first failure.
    ``jobs`` > 1 runs the notebooks after 02 side by side, that many at a time, the CPU cores split between them
    (:func:`_schedule`; on 2 cores two single-threaded kernels do 1.2-1.4x the work of one with both).
    """
    from .files import claim, hold, overlaps

    if not isinstance(jobs, int) or jobs < 1:
        raise SettingError(f"jobs (--jobs): expected a whole number >= 1, got {jobs!r}")
    root = Path(root).resolve()
    headless_env(root)
    params = {"profile": profile, "root": str(root), **(parameters or {})}
    notebooks = find_notebooks(notebooks_dir, only)
    declared = check_parameters(notebooks, params)
    out = Path(out_dir) / profile
    if overlaps(out, notebooks_dir):
        raise OutputError(f"{out}: executed copies would go inside the notebooks folder {notebooks_dir}; "
                          "choose --out outside it")
    claim(out, "notebook run", legacy=ran_here, flag="--out")
    with hold(out, "semsegdiff notebooks run", lock=".notebooks.lock"):  # its own lock: training inside takes .lock
        return _run(notebooks, params, declared, out, kernel, progress, profile, jobs)


# Notebooks 01 and 02 make the data, the model and the judge that every later one uses: with --jobs they run first and
# alone; the later ones run side by side, each after those it reuses the work of.
FIRST = ("01", "02")
NEEDS = {"06": ("05",)}  # 06 reuses 05's study runs of the arms they share
THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # what a kernel's torch and numpy read


def _run(notebooks: list[Path], params: dict[str, Any], declared: dict[Path, set[str]], out: Path, kernel: str,
         progress: bool, profile: str, jobs: int = 1) -> list[Path]:
    import papermill as pm

    n, lock = len(notebooks), threading.Lock()
    cores = os.cpu_count() or 1

    def one(nb: Path) -> Path:
        target, tag = out / nb.name, f"[{notebooks.index(nb) + 1}/{n}]"
        with lock:
            print(f"{tag} {nb.name} (profile {profile}) -> {target}", flush=True)
            keep_edited(target)
            if jobs > 1:  # side by side, the cores are split between the kernels (more threads than cores: far slower)
                alone = nb.name[:2] in FIRST
                for key in THREADS:
                    os.environ[key] = str(cores if alone else max(1, cores // jobs))
        start = time.perf_counter()
        stdout = (sys.stdout if jobs == 1 else Prefixed(f"[{nb.name[:2]}] ", lock)) if progress else None
        try:
            own = {k: v for k, v in params.items() if k in declared[nb]}
            # the kernel starts in the notebook's folder (nbclient's resources path), not papermill's cwd=: that
            # changes the whole process's directory, under the feet of a notebook running beside it
            pm.execute_notebook(str(nb.resolve()), str(target.resolve()), parameters=own, kernel_name=kernel,
                                progress_bar=False, log_output=False, stdout_file=stdout,  # what the notebook prints
                                resources={"metadata": {"path": str(nb.parent.resolve())}})
        except pm.PapermillExecutionError as e:
            raise NotebookError(
                f"{nb}: cell {e.cell_index} (execution count {e.exec_count}) failed with {e.ename}: {e.evalue} "
                f"(the executed copy with the full traceback is {target})") from None
        except Exception as e:  # kernel missing, bad notebook JSON, ...
            raise NotebookError(f"{nb}: could not be executed: {type(e).__name__}: {e}") from e
        finally:
            with lock:
                record(target)
        with lock:
            print(f"{tag} {nb.name} done in {time.perf_counter() - start:.0f} s", flush=True)
        return target

    saved = {k: os.environ.get(k) for k in THREADS}
    try:
        _schedule(notebooks, jobs, one)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return [out / nb.name for nb in notebooks]


def _schedule(notebooks: list[Path], jobs: int, run: Callable[[Path], Path]) -> None:
    """Run each notebook once those it needs (:data:`FIRST`, :data:`NEEDS`) have ended, ``jobs`` at a time; those
    others wait on first. At the first failure no other starts; it is raised once the running ones end. One job runs
    in this thread, in order (an interrupt reaches papermill, which shuts its kernel down); with more, an interrupt
    ends the kernels this process started, so that their threads end too, and is raised after."""
    if jobs == 1:
        for nb in notebooks:
            run(nb)
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    key = {nb: nb.name[:2] for nb in notebooks}
    needs = {nb: {m for m in notebooks[:i] if key[m] in FIRST or key[nb] in FIRST or key[m] in NEEDS.get(key[nb], ())}
             for i, nb in enumerate(notebooks)}
    waited_on = {m for nb in notebooks for m in needs[nb]}
    pending = sorted(notebooks, key=lambda nb: (key[nb] not in FIRST, nb not in waited_on, notebooks.index(nb)))
    done, running, failures = set(), {}, []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            while pending or running:
                ready = [nb for nb in pending if needs[nb] <= done] if not failures else []
                for nb in ready[:jobs - len(running)]:
                    pending.remove(nb)
                    running[pool.submit(run, nb)] = nb
                if not running:
                    break
                ended, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in ended:
                    nb = running.pop(future)
                    try:
                        future.result()
                        done.add(nb)
                    except Exception as e:  # noqa: BLE001 (raised below, once the others have ended)
                        failures.append(e)
        except BaseException:  # Ctrl-C, SIGTERM: the kernels go first, then their threads can end
            _end_kernels()
            raise
    if failures:
        raise failures[0]


def _end_kernels() -> None:
    """Terminate the processes this one started (the notebooks' kernels), then kill those still there after 5 s."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        child.terminate()
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        child.kill()


class Prefixed:
    """A stream that writes each whole line to stdout after ``prefix``: notebooks side by side, told apart."""

    def __init__(self, prefix: str, lock: threading.Lock):
        self.prefix, self.lock, self.partial = prefix, lock, ""

    def write(self, text: str) -> int:
        *lines, self.partial = (self.partial + text).split("\n")
        if lines:
            with self.lock:
                sys.stdout.write("".join(f"{self.prefix}{line}\n" for line in lines))
                sys.stdout.flush()
        return len(text)

    def flush(self) -> None:
        pass


def keep_edited(target: Path) -> None:
    """An executed copy changed since this runner wrote it (opened and saved in JupyterLab, say) is moved to
    ``previous/<time>/`` beside it, never overwritten; the runner's own copies are replaced."""
    from .files import digest, marker

    recorded = ((marker(target.parent) or {}).get("executed") or {}).get(target.name)
    if recorded and target.is_file() and digest(target) != recorded:
        dest = target.parent / "previous" / time.strftime("%Y%m%d-%H%M%S")
        dest.mkdir(parents=True, exist_ok=True)
        os.replace(target, dest / target.name)
        print(f"moved {target}, changed since it was run, to {dest} (delete it when you no longer need it)", flush=True)


def record(target: Path) -> None:
    """The digest of an executed copy in its folder's marker, for :func:`keep_edited`."""
    from .files import digest, mark, marker

    info = marker(target.parent)
    if info is None or not target.is_file():
        return
    executed = {**(info.get("executed") or {}), target.name: digest(target)}
    mark(target.parent, **{k: v for k, v in info.items() if k not in ("written_by", "time", "host", "executed")},
         executed=executed)


def ran_here(folder: Path) -> bool:
    """Whether an unmarked ``folder`` (earlier versions wrote no marker) holds notebook runs of ours, by content: an
    executed notebook that papermill ran, or a training run."""
    from .models.training import is_run_folder

    for nb in folder.glob("*.ipynb"):
        try:
            if "papermill" in json.loads(nb.read_text()).get("metadata", {}):
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return is_run_folder(folder)


def check_parameters(notebooks: list[Path], params: dict[str, Any]) -> dict[Path, set[str]]:
    """The parameters each notebook declares; an error for a parameter none of ``notebooks`` declares.

    Profile settings among the parameters (``epochs=...``, ``overrides={...}``) are checked
    with the profile's rules here, before any notebook runs.
    """
    import papermill as pm

    from .config import OPTIONAL_PATHS, check_setting, get_profile, parameter_setting

    declared = {nb: set(pm.inspect_notebook(str(nb))) for nb in notebooks}
    known = set().union(*declared.values())
    unknown = sorted(set(params) - known - {"profile", "root"})  # those two are the runner's, passed if declared
    if unknown:
        names = ", ".join(nb.name for nb in notebooks)
        raise NotebookError(f"unknown notebook parameter {', '.join(unknown)} (-p); {names} declare: "
                            f"{', '.join(sorted(known))}")
    for key, value in params.items():
        setting = parameter_setting(key)
        if setting is not None and value is not None and not (setting in OPTIONAL_PATHS and value == ""):
            check_setting(setting, value)
    overrides = params.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise SettingError(f"overrides (-p overrides=...): expected a mapping such as {{lr: 5e-4}}, got {overrides!r}")
    both = [f"-p {k}" for k in params if parameter_setting(k) in overrides]
    if both:
        raise SettingError(f"{', '.join(both)}: also given inside -p overrides; give each setting in one place")
    get_profile(str(params.get("profile", "quick")), **overrides)
    return declared
