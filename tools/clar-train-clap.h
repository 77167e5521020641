/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* clar-train --clap: trains the text tower on a frozen encoder. */
#ifndef CLAR_TRAIN_CLAP_TOOL_H
#define CLAR_TRAIN_CLAP_TOOL_H

/* The whole --clap mode; returns the process exit status. */
int clar_train_clap_main (int argc, char **argv);

#endif
