package io.attributionatlas.model;

/**
 * What a parameter is for, independent of the name a family stores it under. The roles every family shares are
 * {@link ParameterLayout.Role} and {@link ParameterLayout.LayerRole}; a family with parameters of its own
 * (DeBERTa's relative embeddings, MPNet's relative bias) declares them as an enum of its own implementing this.
 */
public interface ParameterRole {
}
