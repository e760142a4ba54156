; A one-sector boot program for tests/boot/seabios.sh. It prints a line
; through the BIOS (int 10h, which SeaBIOS sends to the serial console), then
; counts the BIOS timer ticks (the word at 0040:006C, which the BIOS's IRQ 0
; handler advances 18.2 times a second from the PIT through the PIC) over two
; seconds of the RTC, prints the count, and idles with interrupts on so that
; SeaBIOS's serial console, which sends the last character on a timer tick,
; gets the line out whole.
bits 16
org 0x7c00
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7c00
        mov si, hello
        call puts
        sti
        call rtc_edge               ; start on an RTC second boundary
        mov di, [0x46c]
        call rtc_edge
        call rtc_edge
        mov ax, [0x46c]
        sub ax, di
        mov di, num_end             ; the count in decimal, right to left
        mov bx, 10
.digit: xor dx, dx
        div bx
        add dl, '0'
        dec di
        mov [di], dl
        test ax, ax
        jnz .digit
        push di
        mov si, prefix
        call puts
        pop si
        call puts
        mov si, ticks
        call puts
.idle:  sti
        hlt
        jmp .idle

; Waits until the RTC's seconds register changes (polling, interrupts as they are).
rtc_edge:
        call rtc_sec
        mov cl, al
.wait:  call rtc_sec
        cmp al, cl
        je .wait
        ret

; AL = RTC seconds, read when no update is in progress.
rtc_sec:
.uip:   mov al, 0x0a
        out 0x70, al
        in al, 0x71
        test al, 0x80
        jnz .uip
        xor al, al
        out 0x70, al
        in al, 0x71
        ret

puts:   lodsb
        test al, al
        jz .done
        mov ah, 0x0e
        mov bx, 0x0007
        int 0x10
        jmp puts
.done:  ret

hello:  db "bootsector: hello from virtio-blk", 13, 10, 0
prefix: db "bootsector: ", 0
        times 5 db 0
num_end:
        db 0
ticks:  db " timer ticks in 2 s", 13, 10, 0
times 510 - ($ - $$) db 0
dw 0xaa55
