"""Runs the end-to-end tests (test_*.py here, functions named test_*) and
prints one line per test and a closing 'N passed, N failed' line."""
import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    only = sys.argv[1:]
    passed = failed = 0
    failures = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fname[:-3], os.path.join(HERE, fname))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
        tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
        for name, fn in tests:
            full = f"{fname[:-3]}.{name}"
            if only and not any(o in full for o in only):
                continue
            t0 = time.time()
            try:
                fn()
                passed += 1
                print(f"PASS {full} ({time.time() - t0:.1f}s)", flush=True)
            except Exception as e:  # a failing test must not stop the others
                failed += 1
                failures.append(full)
                print(f"FAIL {full} ({time.time() - t0:.1f}s): {e}", flush=True)
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
    for f in failures:
        print(f"failed: {f}")
    print(f"e2e: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
