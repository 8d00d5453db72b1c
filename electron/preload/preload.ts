// The preload of the Partwise window (sandboxed, bundled to CommonJS): it
// exposes the typed API of shared/contract.ts as `window.partwise`, nothing else.
import { contextBridge, ipcRenderer } from 'electron';
import { createPreloadApi } from './preload-api.js';

contextBridge.exposeInMainWorld('partwise', createPreloadApi(ipcRenderer));
