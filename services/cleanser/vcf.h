/*
 * vcf.h -- Variant Call Format (VCF 4.0 - 4.4; text, .vcf.gz or BCF) to
 * canonical genomic-variant records.
 *
 * Pure logic: meta lines (##...) are read for ##fileDate, the layouts of
 * ANN / CSQ / EFF and the ##INFO / ##FORMAT lines of the keys read, the
 * #CHROM header names the samples, and each data line yields one record
 * per (variant, sample, ALT allele the sample carries). htslib is only the
 * reader of compressed and binary input (from memory): a .vcf.gz (BGZF or
 * plain gzip) is decompressed, a BCF decoded to the VCF text it stands for;
 * this file parses that text like any VCF (one parser, one record model).
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
 *                 every distinct gene of the ALT allele's entries in ANN
 *                 (SnpEff: Gene_Name, else Gene_ID), CSQ (VEP, fields by the
 *                 header's "Format:" list: SYMBOL, else Gene) and EFF (older
 *                 SnpEff: Gene_Name), else INFO GENE= / GENEINFO=, at most 16:
 *                 {HG_SYS_HGNC, symbol}, or {HG_SYS_ENSEMBL, id} for ENSG ids
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
 * What VCF 4.1-4.4 require of the data kept is checked. A malformed data
 * line is rejected with location "line N" and reason "line N: ...", the
 * other lines going on: too few columns, POS not a number, REF not of
 * A/C/G/T/N, an ALT allele that is not bases, '*', <ID> or a breakend,
 * CHROM with blanks, commas or angle brackets, an ID list with empty or
 * blank ids, QUAL neither '.' nor a number >= 0 (NaN allowed), a FORMAT key
 * that is not [A-Za-z0-9_.-]+ or GT not first, a GT that is no genotype or
 * names a missing ALT, a sample with more values than FORMAT has keys, an
 * INFO key read (ANN, CSQ, EFF, GENE, GENEINFO,
 * HGVS) without its ##INFO line. A structured meta line (##INFO, ##FORMAT,
 * ##FILTER, ##ALT, ##contig) that is not <K=V,...> with balanced quotes, an
 * ##INFO/##FORMAT line without ID first or with a Number or Type VCF does
 * not define (and, for a key read, without Number, Type and Description or
 * not a String) is rejected alone and not used. The payload is rejected as
 * a whole when its first line is not ##fileformat=VCFv4.x, it has no
 * #CHROM header or a bad one (FORMAT without samples), a sample name appears twice (two people
 * would become one patient), or a compressed payload cannot be read
 * (truncated, corrupt, neither VCF nor BCF, or over 100 x its size and
 * 16 MiB - 256 MiB of text).
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
