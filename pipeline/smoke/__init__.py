"""The smoke test: start an image, wait until Asterisk is fully booted, place real SIP
calls at it with sipp from the host, and say per check what passed and why not.

    pipeline smoke IMAGE [--variant plain|opus] [--platform OS/ARCH] [--logs DIR]
                         [--network host|published|both] [--postgres DSN]

The containers of one run (each on its own free ports, so runs on one host do not collide):
- "host": host networking, the image's configuration plus the smoke additions
  (data/config), PJSIP realtime on a throwaway PostgreSQL. Most checks run here.
- "published": the same configuration with SIP and the RTP range published with -p.
- "default-config": the image's own configuration, untouched: nothing gets in.
With --network host or published, the first two become one container in that mode.

Beside them, the image's own checks (image_checks.py: docker-library's global tests) run
the image with short `docker run`s of their own.

Results: one line per check, a summary table, LOGS/junit.xml, and for each failed check
LOGS/<check>/ with the container log, sipp's traces (messages, errors, statistics,
screen) and what the Asterisk CLI showed.

The modules: suite.py runs it (the containers of a run and their checks, the verdict),
checks.py holds the calls (one table, CHECKS), image_checks.py the image's own checks,
instance.py one container, realtime.py the realtime check's database (postgres.py), sipp.py,
media.py and rtp.py the calls' signalling and audio, parse.py what Asterisk and sipp print,
ports.py the ports of a run, junit.py the report.
"""

from .suite import (
    CheckResult,
    check_image,
    check_names,
    default_logs,
    plan,
    raise_for_failures,
    run_image_checks,
    run_smoke,
)

__all__ = ["CheckResult", "check_image", "check_names", "default_logs", "plan",
           "raise_for_failures", "run_image_checks", "run_smoke"]
