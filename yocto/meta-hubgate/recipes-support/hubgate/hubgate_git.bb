# nooelint: oelint.var.bbclassextend - a target daemon (systemd unit, system user); no native or SDK variant
SUMMARY = "Edge site controller for EV charging hubs"
DESCRIPTION = "hubgate reads a charging hub's chargers and energy meters over Modbus, \
               shares the grid connection among the chargers every second per phase, \
               keeps charging working offline and presents the site to the cloud CSMS \
               as one OCPP charge point."
HOMEPAGE = "https://github.com/hubgate/hubgate"
BUGTRACKER = "https://github.com/hubgate/hubgate/issues"
SECTION = "net"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

PV = "0.1.0+git"

SRC_URI = "git://github.com/hubgate/hubgate.git;protocol=https;branch=main"
# The release commit; yocto/README.md tells how to move it (with the crates include).
SRCREV = "bc83feac822a10f3bcd03920d02366231eaaf6ee"

S = "${UNPACKDIR}/git"

CVE_PRODUCT = "hubgate"

inherit cargo cargo-update-recipe-crates systemd useradd

require ${BPN}-crates.inc

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/hubgate --no-create-home \
                       --shell /sbin/nologin --user-group --groups dialout hubgate"

SYSTEMD_SERVICE:${PN} = "hubgate.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/systemd/hubgate.service ${D}${systemd_system_unitdir}/hubgate.service
    install -d ${D}${datadir}/hubgate/drivers
    install -m 0644 ${S}/drivers/*.toml ${D}${datadir}/hubgate/drivers/
    install -d ${D}${docdir}/hubgate/examples
    install -m 0644 ${S}/site-configs/*.toml ${D}${docdir}/hubgate/examples/
    install -d ${D}${sysconfdir}/hubgate
    install -m 0640 ${S}/site-configs/small-depot.toml ${D}${sysconfdir}/hubgate/site.toml
    chown root:hubgate ${D}${sysconfdir}/hubgate/site.toml
}

FILES:${PN} += "${systemd_system_unitdir}/hubgate.service"
CONFFILES:${PN} = "${sysconfdir}/hubgate/site.toml"
