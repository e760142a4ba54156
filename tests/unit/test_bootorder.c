/* The fw_cfg "bootorder" file from the devices' bootindex= (bhyve/firmware.c). */
#include "config.h"
#include "firmware.h"
#include "test.h"

static void bootorder_lists_boot_devices_by_index(void)
{
	char buf[256];

	unset_config_value("pci.0.3.0.bootindex");
	unset_config_value("pci.0.4.0.bootindex");
	CHECK_EQ(firmware_bootorder(buf, sizeof(buf)), 0);
	CHECK_STR(buf, "");
	/* unittest-dev (slot 4) names itself "unittest" in firmware paths. */
	set_config_value("pci.0.4.0.bootindex", "2");
	CHECK_EQ(firmware_bootorder(buf, sizeof(buf)), (int)sizeof("/pci@i0cf8/unittest@4"));
	CHECK_STR(buf, "/pci@i0cf8/unittest@4");
	/* Too small a buffer is an error, not a cut line. */
	CHECK_EQ(firmware_bootorder(buf, 8), -1);
	unset_config_value("pci.0.4.0.bootindex");
}

static void bootorder_refuses_devices_that_cannot_boot(void)
{
	char buf[256];

	set_config_value("pci.0.3.0.bootindex", "1");	/* virtio-rnd */
	CHECK_EQ(firmware_bootorder(buf, sizeof(buf)), -1);
	unset_config_value("pci.0.3.0.bootindex");
	set_config_value("pci.0.4.0.bootindex", "first");
	CHECK_EQ(firmware_bootorder(buf, sizeof(buf)), -1);
	unset_config_value("pci.0.4.0.bootindex");
}

void suite_bootorder(void)
{
	RUN_DEV(bootorder_lists_boot_devices_by_index);
	RUN_DEV(bootorder_refuses_devices_that_cannot_boot);
}
