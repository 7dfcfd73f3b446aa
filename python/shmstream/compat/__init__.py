# SPDX-License-Identifier: LGPL-2.1-or-later
"""Layers that let code written for other shared-memory packages run on shmstream."""
