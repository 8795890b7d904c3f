"""Exhaustive power-fail tests of the update cycle.

One full cycle (write the secondary, reboot: validate and swap, test boot, confirm, OTP
counter raise, reboot) is replayed from the same starting flash with the power cut at
every flash operation in turn, before, in the middle of, and after it. After each cut the
device is powered up and booted, and must run a valid signed image (the old or the new
one), never one below the OTP security counter, and never brick. It must then still be
able to finish an update, so no cut leaves it stuck.

The same is done for a cycle whose trial image is reset without confirming (revert), and,
for a second cut, during the recovery boot that follows each first cut.
"""

import os

import pytest

from bootloader import boot, verify as vf
from bootloader.flash import NorFlash, PowerCut
from bootloader.image import REJECT_ROLLBACK

from bootloader_fixtures import factory_device, report

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
WHERES = ("before", "middle", "after")
# Where a "middle" cut lands: half way; the deep profile also tries a quarter and 3/4.
FRACTIONS = ((1, 4), (1, 2), (3, 4)) if DEEP else ((1, 2),)


def cut_points(ops):
    for index in range(ops):
        for where in WHERES:
            for fraction in (FRACTIONS if where == "middle" else ((1, 2),)):
                yield index, where, fraction


def _setup():
    dev = factory_device(version=(1, 0, 0, 0), counter=1)
    dev.v2 = dev.sign((2, 0, 0, 0), 2)
    dev.base = dev.flash.image()
    return dev


def _fresh(dev):
    return NorFlash.from_image(dev.base, dev.map.sector_size, dev.map.align)


def cycle_confirm(dev, flash):
    dev.stage(dev.v2, flash=flash)
    result = dev.boot(flash)
    assert result.mode == boot.MODE_TEST
    dev.loader(flash).confirm()
    return dev.boot(flash)


def cycle_revert(dev, flash):
    dev.stage(dev.v2, flash=flash)
    result = dev.boot(flash)
    assert result.mode == boot.MODE_TEST
    return dev.boot(flash)          # reset without confirmation: revert


def _check_running(dev, flash, result, allowed):
    assert result.image is not None, "bricked: %r" % (result.events,)
    loader = dev.loader(flash)
    otp_counter = loader.otp.security_counter()
    assert result.image.security_counter >= otp_counter
    # The primary really holds a valid image signed by the provisioned key.
    info, err = loader.check(loader.primary)
    assert err is None, err
    running = dev.primary_bytes(flash, info.size)
    assert running in allowed
    return running


def _finish_update(dev, flash):
    """Whatever state a cut left, the device can still get to v2 confirmed."""
    for _ in range(4):
        result = dev.boot(flash)
        assert result.image is not None
        if result.mode == boot.MODE_TEST:
            dev.loader(flash).confirm()
            continue
        if result.image.version == (2, 0, 0, 0):
            break
        dev.stage(dev.v2, flash=flash)
    result = dev.boot(flash)
    assert result.image.version == (2, 0, 0, 0) and result.mode == boot.MODE_CONFIRMED
    assert dev.loader(flash).otp.security_counter() == 2


def _count_ops(dev, cycle):
    flash = _fresh(dev)
    result = cycle(dev, flash)
    assert result.image is not None
    return flash.op_count, result


def _run_cut(dev, cycle, index, where, fraction=(1, 2)):
    flash = _fresh(dev)
    flash.schedule_cut(index, where, fraction)
    try:
        cycle(dev, flash)
    except PowerCut:
        pass
    else:
        raise AssertionError("cut %d/%s did not happen" % (index, where))
    flash.power_on()
    return flash


@pytest.mark.verifies("DC-UPDATE-POWERFAIL")
def test_every_cut_point_of_update_and_confirm(request):
    dev = _setup()
    ops, result = _count_ops(dev, cycle_confirm)
    assert result.image.version == (2, 0, 0, 0) and result.mode == boot.MODE_CONFIRMED
    points = 0
    outcomes = {}
    for index, where, fraction in cut_points(ops):
        flash = _run_cut(dev, cycle_confirm, index, where, fraction)
        result = dev.boot(flash)
        running = _check_running(dev, flash, result, (dev.v1, dev.v2))
        # Never below the counter: once v2's counter is in OTP, v1 must not run.
        if dev.loader(flash).otp.security_counter() >= 2:
            assert running == dev.v2
        outcomes[running == dev.v2] = outcomes.get(running == dev.v2, 0) + 1
        # A second boot is just as good, then the update can always be completed.
        _check_running(dev, flash, dev.boot(flash), (dev.v1, dev.v2))
        _finish_update(dev, flash)
        points += 1
    assert outcomes.get(True) and outcomes.get(False)
    report(request.config, "power-cut points, update+confirm cycle",
           "%d (%d flash ops, cut before/middle/after each)" % (points, ops))


@pytest.mark.verifies("DC-UPDATE-POWERFAIL")
def test_every_cut_point_of_update_and_revert(request):
    dev = _setup()
    ops, result = _count_ops(dev, cycle_revert)
    assert result.image.version == (1, 0, 0, 0) and result.mode == boot.MODE_CONFIRMED
    points = 0
    for index, where, fraction in cut_points(ops):
        flash = _run_cut(dev, cycle_revert, index, where, fraction)
        result = dev.boot(flash)
        _check_running(dev, flash, result, (dev.v1, dev.v2))
        # The trial image was never confirmed, so the counter must not have moved.
        assert dev.loader(flash).otp.security_counter() == 1
        # Reset again without confirming: the device must end on v1, confirmed.
        for _ in range(2):
            result = dev.boot(flash)
        assert result.image.version == (1, 0, 0, 0)
        assert result.mode == boot.MODE_CONFIRMED
        points += 1
    report(request.config, "power-cut points, update+revert cycle",
           "%d (%d flash ops, cut before/middle/after each)" % (points, ops))


@pytest.mark.verifies("DC-UPDATE-POWERFAIL")
def test_second_cut_during_recovery_boot(request):
    """Cut once in the update cycle, then again at every op of the boot that recovers."""
    dev = _setup()
    ops, _ = _count_ops(dev, cycle_confirm)
    points = 0
    for index in range(ops):
        first = _run_cut(dev, cycle_confirm, index, "middle")
        base = first.image()
        probe = NorFlash.from_image(base, dev.map.sector_size, dev.map.align)
        dev.boot(probe)
        for second in range(probe.op_count):
            for where in (WHERES if DEEP else ("middle",)):
                flash = NorFlash.from_image(base, dev.map.sector_size, dev.map.align)
                flash.schedule_cut(second, where)
                try:
                    dev.boot(flash)
                except PowerCut:
                    pass
                flash.power_on()
                result = dev.boot(flash)
                _check_running(dev, flash, result, (dev.v1, dev.v2))
                points += 1
    assert points > 0
    report(request.config, "power-cut points, second cut during recovery boot", points)


@pytest.mark.verifies("DC-UPDATE-POWERFAIL")
def test_cut_during_staging_never_requests_half_an_image():
    dev = _setup()
    flash = _fresh(dev)
    dev.stage(dev.v2, flash=flash)
    ops = flash.op_count
    for index in range(ops):
        for where in WHERES:
            flash = _fresh(dev)
            flash.schedule_cut(index, where)
            try:
                dev.stage(dev.v2, flash=flash)
            except PowerCut:
                pass
            flash.power_on()
            result = dev.boot(flash)
            # Only a completed request magic (the very last op) makes v2 pending.
            complete = index == ops - 1 and where == "after"
            assert result.image.version == ((2, 0, 0, 0) if complete else (1, 0, 0, 0))
            assert boot.EV_UPDATE_REJECTED not in result.event_codes()


@pytest.mark.verifies("DC-UPDATE-POWERFAIL", "SC-IMAGE-ROLLBACK")
def test_counter_never_below_after_any_cut_of_a_second_update():
    """v2 confirmed, then v3: a cut anywhere never lets v1 (below the counter) run."""
    dev = _setup()
    flash = _fresh(dev)
    cycle_confirm(dev, flash)
    v3 = dev.sign((3, 0, 0, 0), 3)
    base = flash.image()
    probe = NorFlash.from_image(base, dev.map.sector_size, dev.map.align)
    dev.stage(v3, flash=probe)
    dev.boot(probe)
    dev.loader(probe).confirm()
    ops = probe.op_count
    for index in range(ops):
        flash = NorFlash.from_image(base, dev.map.sector_size, dev.map.align)
        flash.schedule_cut(index, "middle")
        try:
            dev.stage(v3, flash=flash)
            dev.boot(flash)
            dev.loader(flash).confirm()
        except PowerCut:
            pass
        flash.power_on()
        result = dev.boot(flash)
        assert result.image.version in ((2, 0, 0, 0), (3, 0, 0, 0))
        assert result.image.security_counter >= dev.loader(flash).otp.security_counter() >= 2
        # v1 is still signed by a trusted key, but is below the counter now: refused.
        loader = dev.loader(flash)
        try:
            vf.verify(dev.v1, vf.Keyring.from_otp(loader.otp), loader.otp.security_counter())
        except vf.ImageError as exc:
            assert exc.code == REJECT_ROLLBACK
        else:
            raise AssertionError("v1 accepted below the security counter")
