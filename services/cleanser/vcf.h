/*
 * vcf.h -- Variant Call Format (VCF 4.0 - 4.4, uncompressed) to canonical
 * genomic-variant records.
 *
 * Pure logic: meta lines (##...) are read for ##fileDate and the ANN / CSQ
 * field layouts, the #CHROM header names the samples, and each data line
 * yields one record per (variant, sample, ALT allele the sample carries).
 */
#ifndef HG_VCF_H
#define HG_VCF_H

#include <stddef.h>

#include "batch.h"
#include "codesys.h" /* HG_SYS_VARIANT, HG_SYS_DBSNP, HG_SYS_HGNC */

typedef struct {
    const char *sample_id;  /* column name in the #CHROM header */
    const char *patient_id; /* the partner's patient id */
} hg_vcf_sample_t;

typedef struct {
    /* sample id -> patient id; a sample not listed keeps its own id as
     * patient_ref. Borrowed: must outlive the parse call. */
    const hg_vcf_sample_t *sample_map;
    size_t n_sample_map;
} hg_vcf_options_t;

/* Parses data[0..len) (need not be NUL-terminated; may hold NULs) and
 * appends KIND_GENOMIC_VARIANT records to out, one per (data line, sample,
 * distinct ALT allele in the sample's GT):
 *   patient_ref   the sample's patient id (opts->sample_map) or the sample id
 *   codes         {HG_SYS_DBSNP, rsID} for each rs id in ID;
 *                 {HG_SYS_VARIANT, "CHROM-POS-REF-ALT"} ("chr" prefix removed);
 *                 {HG_SYS_HGNC, symbol} from INFO GENE=, GENEINFO=, or the
 *                 ANN (SnpEff) / CSQ (VEP) entry of that ALT allele
 *   string_value  HGVS (ANN HGVS.c, else HGVS.p; CSQ HGVSc, else HGVSp; INFO
 *                 HGVS=) when present, else the genotype ("0/1")
 *   effective     ##fileDate (ISO, at the precision given) or ""
 *   status        FILTER unless "."
 *   provenance    source_format "vcf", source_record_id "line N/<sample>/<k>" (k:
 *                 the ALT allele number, 1-based)
 * Genotypes without an ALT allele (0/0, ./., missing GT) and sites without
 * samples are counted with hg_batch_ignore (once per sample, or per line);
 * so are the placeholder alleles "*" and "<*>"/"<NON_REF>".
 *
 * A malformed data line (too few columns, bad POS, REF or GT, a GT naming a
 * missing ALT) is rejected with location "line N" and reason "line N: ...";
 * the other lines go on. A payload without a #CHROM header, or gzip/BGZF or
 * BCF input, is rejected as a whole.
 *
 * opts may be NULL. limits may be NULL (no limits). A column longer than
 * limits->max_field_bytes rejects its line; limits->max_records caps the
 * records produced, the rest of the payload being rejected. All strings
 * live in out's arena.
 *
 * Returns the number of records added (>= 0), or HG_ENOMEM when the batch
 * arena (or malloc) ran out; a reject "payload exceeds parser memory limit"
 * is added then and the records of the line being parsed are dropped. */
int hg_vcf_parse (const char *data, size_t len, const hg_vcf_options_t *opts,
                  const hg_parse_limits_t *limits, hg_batch_t *out);

#endif
