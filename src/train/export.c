/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Export of the inference model (batch-norm folded into the convolutions,
 * classifier rows as the label set) and checkpoints of the full training
 * state, both through the safetensors writer of libclar. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn-private.h"

/* Writes the conv t with the inserted batch-norm bn folded in, using the
 * running statistics (Ioffe & Szegedy 2015, section 3.1: at inference BN is
 * the affine map y = gamma (x - mean) / sqrt(var + eps) + beta, which
 * composes with the conv):
 *   w' = w * gamma / sqrt(var + eps)
 *   b' = (b - mean) * gamma / sqrt(var + eps) + beta, with b = 0 here.
 * bn NULL (the layer list's own batch-norm follows): w and a zero bias. */
static int
write_folded_conv (clar_st_writer *w, const clar_tlayer *t, const clar_tlayer *bn)
{
  /* A depthwise conv's weight is [C, 1, k, k]. */
  size_t cin = t->op == CLAR_OP_DWCONV2D ? 1 : (size_t) t->in;
  size_t per = cin * t->kernel * t->kernel;
  size_t shape[4] = { (size_t) t->out, cin, (size_t) t->kernel, (size_t) t->kernel };
  size_t bshape[1] = { (size_t) t->out };
  float *wf = malloc (t->W->n * sizeof (float)), *bf = malloc ((size_t) t->out * sizeof (float));
  char name[160];
  int rc;
  if (!wf || !bf) {
    free (wf);
    free (bf);
    return CLAR_ERR_NO_MEMORY;
  }
  for (int o = 0; o < t->out; o++) {
    double sc = bn ? bn->gamma->w[o] / sqrt ((double) bn->run_var[o] + bn->eps) : 1.0;
    for (size_t j = 0; j < per; j++)
      wf[o * per + j] = (float) (t->W->w[o * per + j] * sc);
    bf[o] = bn ? (float) ((0.0 - bn->run_mean[o]) * sc + bn->beta->w[o]) : 0.0f;
  }
  snprintf (name, sizeof name, "encoder.%s.weight", t->name);
  rc = clar_st_writer_add (w, name, shape, 4, wf);
  snprintf (name, sizeof name, "encoder.%s.bias", t->name);
  if (rc == CLAR_OK)
    rc = clar_st_writer_add (w, name, bshape, 1, bf);
  free (wf);
  free (bf);
  return rc;
}

/* An explicit batchnorm2d of the layer list keeps its own tensors. */
static int
write_bn (clar_st_writer *w, const clar_tlayer *t)
{
  size_t s = (size_t) t->in;
  char name[160];
  int rc;
  snprintf (name, sizeof name, "encoder.%s.weight", t->name);
  rc = clar_st_writer_add (w, name, &s, 1, t->gamma->w);
  snprintf (name, sizeof name, "encoder.%s.bias", t->name);
  if (rc == CLAR_OK)
    rc = clar_st_writer_add (w, name, &s, 1, t->beta->w);
  snprintf (name, sizeof name, "encoder.%s.running_mean", t->name);
  if (rc == CLAR_OK)
    rc = clar_st_writer_add (w, name, &s, 1, t->run_mean);
  snprintf (name, sizeof name, "encoder.%s.running_var", t->name);
  if (rc == CLAR_OK)
    rc = clar_st_writer_add (w, name, &s, 1, t->run_var);
  return rc;
}

int
clar_net_export (const clar_net *net, const char *path,
                 const char *const *extra_meta, clar_error *err)
{
  clar_st_writer *w;
  int rc;
  if (!net || !path)
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT, "clar_net_export: no %s",
        net ? "path" : "network");
  w = clar_st_writer_new ();
  if (!w)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  rc = clar_model_write_header (w, &net->cfg.mel, net->cfg.window_samples,
      net->cfg.hop_samples, (size_t) net->D, net->arch, NULL, NULL);
  for (size_t i = 0; i < net->nL && rc == CLAR_OK; i++) {
    const clar_tlayer *t = &net->L[i];
    if (t->op == CLAR_OP_CONV2D || t->op == CLAR_OP_DWCONV2D) {
      rc = write_folded_conv (w, t, net->L[i + 1].inserted_bn ? &net->L[i + 1] : NULL);
    } else if (t->op == CLAR_OP_BATCHNORM2D && !t->inserted_bn) {
      rc = write_bn (w, t);
    } else if (t->op == CLAR_OP_LINEAR) {
      size_t shape[2] = { (size_t) t->out, (size_t) t->in };
      rc = clar_st_writer_add (w, t->W->name, shape, 2, t->W->w);
      if (rc == CLAR_OK)
        rc = clar_st_writer_add (w, t->b->name, shape, 1, t->b->w);
    }
  }
  if (rc == CLAR_OK && net->K) {
    /* labels.h normalises the rows: they become exactly the unit vectors
     * the cosine head used in training, with the same scale. The head is
     * tied to the exported encoder by its fingerprint (model.h). */
    char fp[CLAR_FINGERPRINT_SIZE];
    clar_labels *l;
    if ((rc = clar_writer_fingerprint (w, fp, err)) != CLAR_OK) {
      clar_st_writer_free (w);
      return rc;
    }
    l = clar_labels_new ((size_t) net->K, (size_t) net->D,
        (const char *const *) net->class_names, net->Wc->w, net->cfg.cls_scale, err);
    if (!l) {
      clar_st_writer_free (w);
      return err ? err->code : CLAR_ERR_INVALID_ARGUMENT;
    }
    clar_labels_set_encoder (l, fp);
    rc = clar_labels_to_writer (l, w);
    clar_labels_unref (l);
  }
  for (size_t i = 0; extra_meta && extra_meta[i] && rc == CLAR_OK; i += 2) {
    if (!extra_meta[i + 1]) {
      clar_st_writer_free (w);
      return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
          "clar_net_export: metadata key \"%s\" has no value", extra_meta[i]);
    }
    rc = clar_st_writer_set_metadata (w, extra_meta[i], extra_meta[i + 1]);
  }
  if (rc != CLAR_OK) {
    clar_st_writer_free (w);
    return clar_set_error (err, rc, "cannot serialise the model for %s: %s", path,
        clar_strerror (rc));
  }
  rc = clar_st_writer_save (w, path, err);
  clar_st_writer_free (w);
  return rc;
}

/* ---- checkpoints ---- */

static int
add_1d (clar_st_writer *w, const char *prefix, const char *name, const float *data,
        size_t n)
{
  char full[200];
  snprintf (full, sizeof full, "%s%s", prefix, name);
  return clar_st_writer_add (w, full, &n, 1, data);
}

int
clar_net_save_checkpoint (const clar_net *net, const clar_optim *opt,
                          const float *user, size_t n_user, const char *path,
                          clar_error *err)
{
  clar_st_writer *w;
  char name[160], v[64];
  int rc = CLAR_OK;
  if (!net || !path || (n_user && !user))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_net_save_checkpoint: missing network, path or user data");
  w = clar_st_writer_new ();
  if (!w)
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  for (size_t i = 0; i < net->n_params && rc == CLAR_OK; i++) {
    const clar_param *p = &net->params[i];
    rc = add_1d (w, "", p->name, p->w, p->n);
    if (rc == CLAR_OK)
      rc = add_1d (w, "adam_m.", p->name, p->m, p->n);
    if (rc == CLAR_OK)
      rc = add_1d (w, "adam_v.", p->name, p->v, p->n);
  }
  for (size_t i = 0; i < net->nL && rc == CLAR_OK; i++) {
    const clar_tlayer *t = &net->L[i];
    if (t->op != CLAR_OP_BATCHNORM2D)
      continue;
    snprintf (name, sizeof name, "%s.%s.running_mean", t->inserted_bn ? "bn" : "encoder",
        t->name);
    rc = add_1d (w, "", name, t->run_mean, (size_t) t->in);
    snprintf (name, sizeof name, "%s.%s.running_var", t->inserted_bn ? "bn" : "encoder",
        t->name);
    if (rc == CLAR_OK)
      rc = add_1d (w, "", name, t->run_var, (size_t) t->in);
  }
  if (rc == CLAR_OK && user && n_user)
    rc = add_1d (w, "", "user", user, n_user);
  if (rc == CLAR_OK)
    rc = clar_st_writer_set_metadata (w, "clar.format", "clar-checkpoint");
  if (rc == CLAR_OK)
    rc = clar_st_writer_set_metadata (w, "clar.architecture", net->arch);
  snprintf (v, sizeof v, "%ld", opt ? opt->step : 0L);
  if (rc == CLAR_OK)
    rc = clar_st_writer_set_metadata (w, "adam.step", v);
  snprintf (v, sizeof v, "%s", opt && opt->kind == CLAR_OPTIM_SGD ? "sgd" : "adamw");
  if (rc == CLAR_OK)
    rc = clar_st_writer_set_metadata (w, "optim.kind", v);
  if (rc != CLAR_OK) {
    clar_st_writer_free (w);
    return clar_set_error (err, rc, "cannot serialise the checkpoint %s: %s", path,
        clar_strerror (rc));
  }
  rc = clar_st_writer_save (w, path, err);
  clar_st_writer_free (w);
  return rc;
}

/* Looks up a 1-D tensor of exactly n values. */
static const float *
find_exact (const clar_st_file *f, const char *prefix, const char *name, size_t n,
            const char *path, clar_error *err)
{
  char full[200];
  const clar_st_tensor *t;
  snprintf (full, sizeof full, "%s%s", prefix, name);
  t = clar_st_find (f, full);
  if (!t) {
    clar_set_error (err, CLAR_ERR_MISSING_TENSOR, "checkpoint %s lacks tensor %s", path, full);
    return NULL;
  }
  if (t->n_elements != n) {
    clar_set_error (err, CLAR_ERR_BAD_TENSOR,
        "checkpoint %s: tensor %s has %zu values, this network needs %zu", path, full,
        t->n_elements, n);
    return NULL;
  }
  return t->data;
}

int
clar_net_load_checkpoint (clar_net *net, clar_optim *opt, float *user, size_t n_user,
                          const char *path, clar_error *err)
{
  clar_st_file *f = NULL;
  char name[160], *end;
  const char *fmt, *arch, *step, *kind;
  long stepv = 0;
  int rc;
  if (!net || !path || (n_user && !user))
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "clar_net_load_checkpoint: missing network, path or user buffer");
  if ((rc = clar_st_read_file (path, &f, err)) != CLAR_OK)
    return rc;
  fmt = clar_st_metadata (f, "clar.format");
  arch = clar_st_metadata (f, "clar.architecture");
  step = clar_st_metadata (f, "adam.step");
  kind = clar_st_metadata (f, "optim.kind");
  if (!fmt || strcmp (fmt, "clar-checkpoint")) {
    clar_st_free (f);
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "%s is not a clar checkpoint (clar.format is not \"clar-checkpoint\")", path);
  }
  if (!arch || strcmp (arch, net->arch)) {
    clar_st_free (f);
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "checkpoint %s was written for another architecture", path);
  }
  if (step) {
    errno = 0;
    stepv = strtol (step, &end, 10);
    if (errno || end == step || *end || stepv < 0) {
      clar_st_free (f);
      return clar_set_error (err, CLAR_ERR_BAD_METADATA,
          "checkpoint %s: adam.step \"%s\" is not a step count", path, step);
    }
  }
  if (opt && kind && strcmp (kind, opt->kind == CLAR_OPTIM_SGD ? "sgd" : "adamw")) {
    clar_st_free (f);
    return clar_set_error (err, CLAR_ERR_BAD_METADATA,
        "checkpoint %s holds %s state, but the optimiser is %s", path, kind,
        opt->kind == CLAR_OPTIM_SGD ? "sgd" : "adamw");
  }
  /* Two passes: check every tensor first so that a bad file leaves the
   * network unchanged, then copy. */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < net->n_params; i++) {
      clar_param *p = &net->params[i];
      const float *a = find_exact (f, "", p->name, p->n, path, err);
      const float *m = a ? find_exact (f, "adam_m.", p->name, p->n, path, err) : NULL;
      const float *v = m ? find_exact (f, "adam_v.", p->name, p->n, path, err) : NULL;
      if (!v) {
        clar_st_free (f);
        return err ? err->code : CLAR_ERR_MISSING_TENSOR;
      }
      if (pass) {
        memcpy (p->w, a, p->n * sizeof (float));
        memcpy (p->m, m, p->n * sizeof (float));
        memcpy (p->v, v, p->n * sizeof (float));
      }
    }
    for (size_t i = 0; i < net->nL; i++) {
      clar_tlayer *t = &net->L[i];
      const float *rm, *rv = NULL;
      const char *pre = t->inserted_bn ? "bn" : "encoder";
      if (t->op != CLAR_OP_BATCHNORM2D)
        continue;
      snprintf (name, sizeof name, "%s.%s.running_mean", pre, t->name);
      rm = find_exact (f, "", name, (size_t) t->in, path, err);
      snprintf (name, sizeof name, "%s.%s.running_var", pre, t->name);
      if (rm)
        rv = find_exact (f, "", name, (size_t) t->in, path, err);
      if (!rv) {
        clar_st_free (f);
        return err ? err->code : CLAR_ERR_MISSING_TENSOR;
      }
      if (pass) {
        memcpy (t->run_mean, rm, (size_t) t->in * sizeof (float));
        memcpy (t->run_var, rv, (size_t) t->in * sizeof (float));
      }
    }
    if (user && n_user) {
      const float *u = find_exact (f, "", "user", n_user, path, err);
      if (!u) {
        clar_st_free (f);
        return err ? err->code : CLAR_ERR_MISSING_TENSOR;
      }
      if (pass)
        memcpy (user, u, n_user * sizeof (float));
    }
  }
  if (opt)
    opt->step = stepv;
  clar_st_free (f);
  return CLAR_OK;
}
