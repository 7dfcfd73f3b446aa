// SPDX-License-Identifier: GPL-2.0-only
/*
 * ABI rules of /dev/shmstream: the handshake, unknown commands, the
 * extensible-struct size rules, flags, reserved fields and bad pointers.
 */
#include "common.h"

#include "kselftest_harness.h"

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = shm_open_dev();
	if (self->fd < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(dev, handshake)
{
	struct shmstream_version v;

	POISON(v);
	v.size = sizeof(v);
	v.flags = 0;
	memset(v.reserved, 0, sizeof(v.reserved));
	ASSERT_EQ(0, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
	EXPECT_EQ(SHMSTREAM_ABI_MAJOR, v.abi_major);
	EXPECT_EQ(SHMSTREAM_ABI_MINOR, v.abi_minor);
	EXPECT_EQ(sizeof(v), v.size);
	EXPECT_EQ(SHMSTREAM_MAX_SLOTS, v.max_slots);
	EXPECT_EQ(SHMSTREAM_MAX_SLOT_SIZE, v.max_slot_size);
	/* Every output field was written: none still holds the poison. */
	EXPECT_NE(0xccccccccccccccccULL, v.features);
	EXPECT_NE(0xccccccccU, v.max_consumers);
	EXPECT_NE(0xccccccccU, v.max_holds);
	EXPECT_TRUE(v.features & SHMSTREAM_FEAT_ATTACH_NEWEST);
	EXPECT_TRUE(v.features & SHMSTREAM_FEAT_PEEK);
	EXPECT_EQ(2, v.abi_major);
}

/*
 * ABI 2 moved off 0xB8, which Documentation/userspace-api/ioctl/
 * ioctl-number.rst gives to mshv and the Marvell CN10K DPI driver: an ABI 1
 * program's handshake finds nothing, and libshmdev reads it as "older".
 */
TEST_F(dev, abi1_magic_enotty)
{
	struct shmstream_version v = { .size = sizeof(v) };

	EXPECT_EQ(0xB9, SHMSTREAM_IOC_MAGIC);
	EXPECT_EQ(0xB9, _IOC_TYPE(SHMSTREAM_IOC_VERSION));
	EXPECT_EQ(-ENOTTY, shm_ioctl(self->fd, _IOWR(0xB8, 0x00, struct shmstream_version), &v));
	EXPECT_EQ(-ENOTTY, shm_ioctl(self->fd, _IOWR(0xB8, 0x05, struct shmstream_info), &v));
}

/*
 * A program built against a newer header, whose structure grew by 8 bytes,
 * sends a command number with the larger size in it: the module dispatches
 * on type, number and direction, and takes the size from the structure.
 */
TEST_F(dev, grown_struct_new_command_number)
{
	struct {
		struct shmstream_version v;
		uint64_t grown;
	} big;
	unsigned long cmd = _IOWR(SHMSTREAM_IOC_MAGIC, 0x00, big);

	ASSERT_NE(cmd, SHMSTREAM_IOC_VERSION);
	memset(&big, 0, sizeof(big));
	big.v.size = sizeof(big);
	ASSERT_EQ(0, shm_ioctl(self->fd, cmd, &big));
	EXPECT_EQ(SHMSTREAM_ABI_MAJOR, big.v.abi_major);
	EXPECT_EQ(sizeof(big.v), big.v.size);
	EXPECT_EQ(0, big.grown);
	big.v.size = sizeof(big);
	big.grown = 1;
	EXPECT_EQ(-E2BIG, shm_ioctl(self->fd, cmd, &big));
	/* The size bits of the number do not matter at all. */
	memset(&big, 0, sizeof(big));
	big.v.size = sizeof(big.v);
	EXPECT_EQ(0, shm_ioctl(self->fd, _IOWR(SHMSTREAM_IOC_MAGIC, 0x00, char), &big));
	/* The direction does: it is part of the command. */
	EXPECT_EQ(-ENOTTY, shm_ioctl(self->fd, _IOW(SHMSTREAM_IOC_MAGIC, 0x00, big), &big));
}

/* A @size past a page is -E2BIG without reading the tail (not -EFAULT). */
TEST_F(dev, size_past_a_page_e2big)
{
	struct shmstream_version v = { .size = 4097 };
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *buf;

	EXPECT_EQ(-E2BIG, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
	v.size = UINT32_MAX;
	EXPECT_EQ(-E2BIG, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
	/* A page-sized struct with a zero tail is still fine. */
	buf = calloc(1, page);
	ASSERT_NE(NULL, buf);
	*(uint32_t *)buf = page;
	EXPECT_EQ(0, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, buf));
	free(buf);
}

/* The device is a stream of frames, not a file: it does not seek. */
TEST_F(dev, lseek_espipe)
{
	errno = 0;
	EXPECT_EQ(-1, lseek(self->fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	errno = 0;
	EXPECT_EQ(-1, lseek(self->fd, 4096, SEEK_CUR));
	EXPECT_EQ(ESPIPE, errno);
}

TEST_F(dev, unknown_ioctl_enotty)
{
	struct shmstream_version v = { .size = sizeof(v) };

	EXPECT_EQ(-ENOTTY, shm_ioctl(self->fd, _IOWR(SHMSTREAM_IOC_MAGIC, 0x7f,
						      struct shmstream_version), &v));
	/* A foreign magic with a valid number is not ours either. */
	EXPECT_EQ(-ENOTTY, shm_ioctl(self->fd, _IOWR(0x42, 0x00,
						      struct shmstream_version), &v));
}

TEST_F(dev, struct_one_byte_short_einval)
{
	struct shmstream_version v = { .size = SHMSTREAM_VERSION_SIZE_VER0 - 1 };

	EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
	v.size = 0;
	EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
}

TEST_F(dev, struct_longer_zero_tail_ok)
{
	struct {
		struct shmstream_version v;
		uint8_t tail[32];
	} big;

	memset(&big, 0, sizeof(big));
	big.v.size = sizeof(big);
	ASSERT_EQ(0, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &big));
	EXPECT_EQ(SHMSTREAM_ABI_MAJOR, big.v.abi_major);
	/* The kernel answers in its own size and leaves the tail alone. */
	EXPECT_EQ(sizeof(big.v), big.v.size);
	for (size_t i = 0; i < sizeof(big.tail); i++)
		EXPECT_EQ(0, big.tail[i]);
}

TEST_F(dev, struct_longer_nonzero_tail_e2big)
{
	struct {
		struct shmstream_version v;
		uint8_t tail[32];
	} big;

	memset(&big, 0, sizeof(big));
	big.v.size = sizeof(big);
	big.tail[17] = 1;
	EXPECT_EQ(-E2BIG, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &big));
}

TEST_F(dev, unknown_flag_einval)
{
	struct shmstream_version v = { .size = sizeof(v), .flags = 1 };

	EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
}

TEST_F(dev, reserved_nonzero_einval)
{
	struct shmstream_version v = { .size = sizeof(v) };

	v.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
}

TEST_F(dev, null_arg_efault)
{
	EXPECT_EQ(-EFAULT, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, NULL));
	EXPECT_EQ(-EFAULT, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, (void *)16));
}

/* Every command with its first published size and this header's size. */
#define CMD(n, s) { #n, SHMSTREAM_IOC_##n, SHMSTREAM_##n##_SIZE_VER0, sizeof(struct shmstream_##s) }
static const struct {
	const char *name;
	unsigned long cmd;
	uint32_t size;
	uint32_t cur;
} cmds[] = {
	CMD(VERSION, version),
	CMD(CREATE, create),
	CMD(ATTACH, attach),
	CMD(DESTROY, destroy),
	CMD(LIST, list),
	CMD(INFO, info),
	CMD(STATS, stats),
	CMD(GET_SLOT, get_slot),
	CMD(COMMIT, commit),
	CMD(ACQUIRE, acquire),
	CMD(RELEASE, release),
	CMD(SLOT_DMABUF, slot_dmabuf),
};

TEST_F(dev, every_command_size_rules)
{
	uint8_t buf[512];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		uint32_t sz;

		TH_LOG("%s", cmds[i].name);
		memset(buf, 0, sizeof(buf));
		sz = cmds[i].size - 1;
		memcpy(buf, &sz, 4);
		EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, cmds[i].cmd, buf));
		/* A byte past this header's size is one the kernel does not know. */
		sz = cmds[i].cur + 8;
		memcpy(buf, &sz, 4);
		buf[cmds[i].cur + 3] = 1;
		EXPECT_EQ(-E2BIG, shm_ioctl(self->fd, cmds[i].cmd, buf));
		/* ... under the number a grown header would give, too. */
		EXPECT_EQ(-E2BIG, shm_ioctl(self->fd,
					    _IOC(_IOC_DIR(cmds[i].cmd), SHMSTREAM_IOC_MAGIC,
						 _IOC_NR(cmds[i].cmd), sz), buf));
		EXPECT_EQ(-EFAULT, shm_ioctl(self->fd, cmds[i].cmd, NULL));
		/* Unknown flags (bit 30 is no command's). */
		memset(buf, 0, sizeof(buf));
		sz = cmds[i].size;
		memcpy(buf, &sz, 4);
		buf[7] = 0x40;
		EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, cmds[i].cmd, buf));
	}
}

TEST_HARNESS_MAIN
