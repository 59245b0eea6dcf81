"""The pure parts of the checks: which addresses count as local for NAT, and the part of
the Opus call that is measured (no process, no network)."""

import pytest

from pipeline.smoke.checks import OPUS_SETTLE_S, opus_window
from pipeline.smoke.instance import Instance, local_nets_except
from pipeline.smoke.parse import ChannelStats
from pipeline.smoke.ports import Ports


def row(rx, tx):
    return ChannelStats(channel="smoke-00000001", codec="opus", rx=rx, rx_lost=0, tx=tx, tx_lost=0)


def test_opus_window_skips_the_priming_part():
    samples = [(0.2, row(0, 0)), (0.4, row(8, 12)), (OPUS_SETTLE_S, row(20, 16)),
               (1.0, row(40, 36)), (1.6, row(70, 66))]
    # from the first settled sample to the last: sent 66-16, echoed 70-20
    assert opus_window(samples) == (50, 50)


@pytest.mark.parametrize("samples", [[], [(0.1, row(1, 1))], [(1.0, row(5, 5))]])
def test_opus_window_needs_two_settled_samples(samples):
    assert opus_window(samples) == (0, 0)


def test_local_nets_are_the_bridge_without_its_gateway():
    nets = local_nets_except("172.17.0.0/16", "172.17.0.1")
    assert "172.17.0.1/32" not in nets and "172.17.0.2/31" in nets and "172.17.128.0/17" in nets
    import ipaddress
    covered = sum(ipaddress.ip_network(n).num_addresses for n in nets)
    assert covered == 2 ** 16 - 1


def test_published_instance_env_and_ports():
    instance = Instance(label="published", network="published", ports=Ports.from_block(40000),
                        local_nets=["172.17.0.2/31"])
    env = instance.env()
    assert env["ASTERISK_SIP_PORT"] == "40000"
    assert (env["ASTERISK_RTP_START"], env["ASTERISK_RTP_END"]) == ("40008", "40015")
    assert env["ASTERISK_EXTERNAL_ADDRESS"] == "127.0.0.1"
    assert env["ASTERISK_LOCAL_NETS"] == "172.17.0.2/31"
    assert instance.published() == [("127.0.0.1:40000", 40000, "udp"),
                                    ("127.0.0.1:40008-40015", "40008-40015", "udp")]


def test_default_config_instance_is_left_alone():
    instance = Instance(label="default-config", network="published", ports=Ports.from_block(40000),
                        test_config=False)
    assert set(instance.env()) == {"ASTERISK_SIP_PORT", "ASTERISK_RTP_START", "ASTERISK_RTP_END"}
    assert instance.published() == [("127.0.0.1:40000", 40000, "udp")]


BOOT_FAILURE_LOG = """\
PBX UUID: 7c4f2c75-101a-4732-8c68-6e70a0a00905
Could not find option 'minimum_size' with type 'threadpool' in module 'stasis'
 Asterisk PBX Core Initializing
 Asterisk Dynamic Loader Starting:
[2026-11-26 06:54:55.350] WARNING[7]: loader.c:2403 loader_config_init: 'modules.conf' invalid or missing.
[2026-11-26 06:54:55.350] ERROR[7]: asterisk.c:4123 check_init: Module initialization failed.  ASTERISK EXITING!
"""


@pytest.mark.parametrize("log, said", [
    (BOOT_FAILURE_LOG, "WARNING: 'modules.conf' invalid or missing. / "
                       "ERROR: Module initialization failed.  ASTERISK EXITING!"),
    ("entrypoint: error: ASTERISK_SIP_PORT must be a port number, not 'x'\n",
     "entrypoint: error: ASTERISK_SIP_PORT must be a port number, not 'x'"),
    ("just\nthe end\n", "the end"),
    ("", "(empty log)"),
])
def test_what_a_boot_log_says_went_wrong(log, said):
    from pipeline.smoke.instance import last_complaint
    assert last_complaint(log) == said


# ---- the image's own checks (docker-library's global tests) -------------------------------------

DEBIAN_PASSWD = "root:x\ndaemon:x\nnobody:x\nasterisk:x\n"
DEBIAN_SHADOW = "root:*\ndaemon:*\nnobody:*\nasterisk:!\n"


@pytest.mark.parametrize("passwd, shadow, problems", [
    (DEBIAN_PASSWD, DEBIAN_SHADOW, []),
    ("root:x\n", "root:!\n", []),
    ("root:x\n", "root:!!\n", []),
    ("root:x\n", "root:!*\n", []),
    ("root:*\n", "", []),
    ("root:x\n", "", []),                                  # x without a shadow line: no login
    ("root:x\n", "root:$y$j9T$salt$hash\n", ["root has a password hash ($y$)"]),
    ("root:x\n", "root:$6$salt$hash\n", ["root has a password hash ($6$)"]),
    ("root:x\n", "root:!$6$salt$hash\n", ["root has a locked password hash ($6$)"]),
    ("root:x\n", "root:\n", ["root has an empty password (anyone may log in or `su` to it without one)"]),
    ("root:\n", "", ["root has an empty password (anyone may log in or `su` to it without one)"]),
    ("root:abJnggxhB/yWI\n", "", ["root has a password field that is no 'no password' marker"]),
    # the shadow line counts only for an account whose passwd field is x
    ("root:*\n", "root:$6$salt$hash\n", []),
    (DEBIAN_PASSWD, DEBIAN_SHADOW.replace("asterisk:!", "asterisk:$y$j9T$a$b"),
     ["asterisk has a password hash ($y$)"]),
])
def test_password_problems(passwd, shadow, problems):
    from pipeline.smoke.image_checks import password_problems
    assert password_problems(passwd, shadow) == problems


def test_a_hash_is_never_shown():
    from pipeline.smoke.image_checks import password_problems
    [problem] = password_problems("root:x\n", "root:$6$saltsalt$secrethash\n")
    assert "saltsalt" not in problem and "secrethash" not in problem


def test_every_run_has_the_image_checks_once_and_every_call_check_from_one_list():
    from pipeline import smoke
    from pipeline.smoke.checks import CHECKS
    from pipeline.smoke.image_checks import IMAGE_CHECKS
    names = smoke.check_names("both")
    assert [n for n in names if n in IMAGE_CHECKS] == ["utc", "no-hard-coded-passwords", "override-cmd"]
    assert smoke.plan("both")[0].checks == tuple(CHECKS)
