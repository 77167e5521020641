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

/* ---- fine-tuning start (clar-train --init) ---- */

static int
copy_tensor (const clar_st_file *f, const char *name, float *dst, size_t n, clar_error *err)
{
  const clar_st_tensor *t = clar_st_find (f, name);
  if (!t)
    return clar_set_error (err, CLAR_ERR_MISSING_TENSOR, "the model has no tensor %s", name);
  if (t->n_elements != n)
    return clar_set_error (err, CLAR_ERR_BAD_TENSOR, "tensor %s has %zu values, the network %zu",
        name, t->n_elements, n);
  memcpy (dst, t->data, n * sizeof (float));
  return CLAR_OK;
}

int
clar_net_load_encoder (clar_net *net, const char *path, const clar_labels *head,
                       size_t *head_rows, clar_error *err)
{
  clar_st_file *f = NULL;
  const char *arch;
  char name[160];
  int rc;
  if (head_rows)
    *head_rows = 0;
  if ((rc = clar_st_read_file (path, &f, err)) != CLAR_OK)
    return rc;
  arch = clar_st_metadata (f, "clar.architecture");
  if (!arch || strcmp (arch, net->arch)) {
    clar_st_free (f);
    return clar_set_error (err, CLAR_ERR_INVALID_ARGUMENT,
        "%s: its layer list differs from the network's", path);
  }
  for (size_t i = 0; i < net->nL && rc == CLAR_OK; i++) {
    clar_tlayer *t = &net->L[i];
    if (t->op == CLAR_OP_CONV2D || t->op == CLAR_OP_DWCONV2D) {
      snprintf (name, sizeof name, "encoder.%s.weight", t->name);
      rc = copy_tensor (f, name, t->W->w, t->W->n, err);
      if (rc == CLAR_OK && i + 1 < net->nL && net->L[i + 1].inserted_bn) {
        /* The folded conv is w' x + b' (write_folded_conv). With gamma 1,
         * beta b', running mean 0 and variance 1 - eps the inserted
         * batch-norm's eval mode is exactly that map;
         * clar_net_calibrate_bn then matches its train mode too. */
        clar_tlayer *bn = &net->L[i + 1];
        snprintf (name, sizeof name, "encoder.%s.bias", t->name);
        rc = copy_tensor (f, name, bn->beta->w, (size_t) bn->in, err);
        for (int c = 0; c < bn->in; c++) {
          bn->gamma->w[c] = 1.0f;
          bn->run_mean[c] = 0.0f;
          bn->run_var[c] = 1.0f - bn->eps;
        }
      }
    } else if (t->op == CLAR_OP_BATCHNORM2D && !t->inserted_bn) {
      snprintf (name, sizeof name, "encoder.%s.weight", t->name);
      rc = copy_tensor (f, name, t->gamma->w, (size_t) t->in, err);
      snprintf (name, sizeof name, "encoder.%s.bias", t->name);
      if (rc == CLAR_OK)
        rc = copy_tensor (f, name, t->beta->w, (size_t) t->in, err);
      snprintf (name, sizeof name, "encoder.%s.running_mean", t->name);
      if (rc == CLAR_OK)
        rc = copy_tensor (f, name, t->run_mean, (size_t) t->in, err);
      snprintf (name, sizeof name, "encoder.%s.running_var", t->name);
      if (rc == CLAR_OK)
        rc = copy_tensor (f, name, t->run_var, (size_t) t->in, err);
    } else if (t->op == CLAR_OP_LINEAR) {
      rc = copy_tensor (f, t->W->name, t->W->w, t->W->n, err);
      if (rc == CLAR_OK)
        rc = copy_tensor (f, t->b->name, t->b->w, t->b->n, err);
    }
  }
  clar_st_free (f);
  /* Classifier rows of the classes the label set names (by name). */
  if (rc == CLAR_OK && head && net->K && clar_labels_dim (head) == (size_t) net->D) {
    for (int k = 0; k < net->K; k++)
      for (size_t j = 0; j < clar_labels_count (head); j++)
        if (!strcmp (clar_labels_name (head, j), net->class_names[k])) {
          memcpy (net->Wc->w + (size_t) k * net->D, clar_labels_vector (head, j),
              (size_t) net->D * sizeof (float));
          if (head_rows)
            (*head_rows)++;
          break;
        }
  }
  return rc;
}

int
clar_net_calibrate_bn (clar_net *net, const float *mel, int M, int T, clar_error *err)
{
  size_t nbn = 0, k = 0;
  float **mean, **var, **bp;
  int rc = CLAR_OK, frozen = net->encoder_frozen;
  for (size_t i = 0; i < net->nL; i++)
    nbn += net->L[i].inserted_bn;
  mean = calloc (nbn + 1, sizeof (float *));
  var = calloc (nbn + 1, sizeof (float *));
  bp = calloc (nbn + 1, sizeof (float *));
  if (!mean || !var || !bp) {
    free (mean);
    free (var);
    free (bp);
    return clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
  }
  /* Calibration needs the batch statistics of train-mode forwards, which
   * a frozen encoder does not compute (nn.h): thawed for its duration. */
  net->encoder_frozen = 0;
  /* b' of every layer (beta as clar_net_load_encoder left it), before any
   * train-mode forward moves the running statistics. */
  for (size_t i = 0; i < net->nL; i++)
    if (net->L[i].inserted_bn) {
      clar_tlayer *t = &net->L[i];
      if (!(bp[k] = malloc ((size_t) t->in * sizeof (float)))) {
        rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
        break;
      }
      for (int c = 0; c < t->in; c++)
        bp[k][c] = t->beta->w[c] - t->gamma->w[c] * t->run_mean[c] / sqrtf (t->run_var[c] + t->eps);
      k++;
    }
  k = 0;
  /* Layer by layer, in order, so that each layer is calibrated on the
   * output of the calibrated layers before it. With the batch's mean m and
   * (biased) variance v at the layer, gamma = sqrt(v + eps) and
   * beta = m + b' make the train-mode output on this batch exactly the
   * folded map z + b', and running statistics (m, v) keep the eval mode
   * exactly z + b' for any input. */
  for (size_t i = 0; i < net->nL && rc == CLAR_OK; i++) {
    clar_tlayer *t = &net->L[i];
    const float *h, *z, *lg;
    if (!t->inserted_bn)
      continue;
    if ((rc = clar_net_forward (net, mel, M, T, 1, &h, &z, &lg)) != CLAR_OK) {
      clar_set_error (err, rc, "%s", clar_net_last_error (net));
      break;
    }
    mean[k] = malloc ((size_t) t->in * sizeof (float));
    var[k] = malloc ((size_t) t->in * sizeof (float));
    if (!mean[k] || !var[k]) {
      rc = clar_set_error (err, CLAR_ERR_NO_MEMORY, "out of memory");
      break;
    }
    for (int c = 0; c < t->in; c++) {
      float bprime = bp[k][c];
      mean[k][c] = t->bmean[c];
      var[k][c] = t->bvar[c];
      t->gamma->w[c] = sqrtf (t->bvar[c] + t->eps);
      t->beta->w[c] = t->bmean[c] + bprime;
      t->run_mean[c] = t->bmean[c];
      t->run_var[c] = t->bvar[c];
    }
    k++;
  }
  /* The later passes moved the running statistics of calibrated layers
   * (momentum update); put back the calibration's own. */
  k = 0;
  for (size_t i = 0; i < net->nL; i++) {
    clar_tlayer *t = &net->L[i];
    if (!t->inserted_bn)
      continue;
    if (mean[k] && var[k]) {
      memcpy (t->run_mean, mean[k], (size_t) t->in * sizeof (float));
      memcpy (t->run_var, var[k], (size_t) t->in * sizeof (float));
    }
    free (mean[k]);
    free (var[k]);
    free (bp[k]);
    k++;
  }
  free (mean);
  free (var);
  free (bp);
  net->encoder_frozen = frozen;
  return rc;
}
